package sim

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/sim/report"
)

// Metric rows of the summary, in order.
const (
	rowPods        = "pods Running / created"
	rowP50         = "create→Running p50"
	rowP99         = "create→Running p99"
	rowMax         = "create→Running max"
	rowMountSecs   = "all Running after"
	rowKV          = "Key Vault requests (mount)"
	rowKVPod       = "Key Vault requests per pod"
	rowKV401       = "… of which 401 auth challenges"
	rowEntra       = "Entra ID requests (mount)"
	rowToken       = "Entra token requests per pod"
	rowThrottled   = "429s"
	rowFiles       = "files wrong / checked"
	rowDrvAPI      = "apiserver requests by the drivers"
	rowDrvAPIWrite = "… of which writes"
	rowKubeletAPI  = "apiserver requests by the simkubelets"
	rowDrvRSS      = "driver RSS peak (max node, MiB)"
	rowPrvRSS      = "provider RSS peak (max node, MiB)"
	rowDrvCPU      = "driver CPU s (mean per node)"
	rowPrvCPU      = "provider CPU s (mean per node)"
	rowRotPods     = "rotation: pods on the new version"
	rowRotSynced   = "rotation: synced Secret updated"
	rowRotTime     = "rotation: change → every pod updated"
	rowRotKV       = "rotation: KV requests until propagated"
	rowRotCycle    = "rotation: KV reads per steady cycle"
	rowRotBound    = "rotation: distinct objects × nodes"
	rowRotWrites   = "rotation: driver API writes per steady cycle"
	rowRotThrot    = "rotation: 429s"
	rowLeakMounts  = "churn: leaked mounts"
	rowLeakSPCPS   = "churn: leaked SecretProviderClassPodStatuses"
	rowLeakSecrets = "churn: leaked synced Secrets"
)

func (e *env) buildReport(passes []*PassResult) *report.Report {
	o := e.opt
	title := "sim: " + o.Workload
	if o.Scenario != "" {
		title += " (" + o.Scenario + ")"
	}
	r := &report.Report{
		Title: title,
		Settings: [][2]string{
			{"workload", o.Workload},
			{"nodes", fmt.Sprint(o.Nodes)},
			{"pods", fmt.Sprint(o.Pods)},
			{"classes × objects per class", fmt.Sprintf("%d × %d", o.Classes, o.Objects)},
			{"service accounts (workload identities) / Entra applications", fmt.Sprintf("%d / %d", o.Identities, o.apps())},
			{"identity mode", o.IdentityMode},
			{"Key Vault / Entra latency", fmt.Sprintf("%v ± %v per request", o.KVLatency, o.KVJitter)},
			{"Key Vault service limits", "on (published limits: 4,000 secret transactions per vault per 10 s)"},
			{"driver rotation", fmt.Sprintf("%v, --rotation-poll-interval=%v", o.Rotation, o.RotationInterval)},
			{"simkubelet sync period (republish)", o.SyncPeriod.String()},
			{"host", fmt.Sprintf("%d CPUs (%s/%s), %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))},
		},
		Notes: []string{
			"Everything a secret flows through is real: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, one secrets-store-csi-driver and one secrets-store-provider-azure process per simulated node, the Key Vault emulator with its service limits on. Only the kubelet is simulated (sim/simkubelet; see docs/sim.md for what it does not model).",
			"\"cache off\" is the provider with --cache-ttl=0: its object cache is off; identical concurrent fetches are still collapsed (the binary has no flag for that). It is not upstream's provider.",
			"Times depend on the host (all processes share its CPUs); counts of requests do not.",
		},
	}
	lim := kvemulator.DefaultLimits()
	limitPerSec := float64(lim.Secret) / time.Duration(lim.Window).Seconds()
	rows := []string{rowPods, rowP50, rowP99, rowMax, rowMountSecs, rowKV, rowKV401, rowKVPod, rowEntra, rowToken, rowThrottled, rowFiles, rowDrvAPI, rowDrvAPIWrite, rowKubeletAPI, rowDrvRSS, rowPrvRSS, rowDrvCPU, rowPrvCPU}
	if o.Workload == "rotation" {
		rows = append(rows, rowRotPods, rowRotSynced, rowRotTime, rowRotKV, rowRotCycle, rowRotBound, rowRotWrites, rowRotThrot)
	}
	if o.Workload == "churn" {
		rows = []string{rowPods, rowMountSecs, rowKV, rowEntra, rowThrottled, rowDrvAPI, rowDrvAPIWrite, rowKubeletAPI, rowDrvRSS, rowPrvRSS, rowDrvCPU, rowPrvCPU, rowLeakMounts, rowLeakSPCPS, rowLeakSecrets}
	}
	r.Rows = rows
	for _, p := range passes {
		v := map[string]string{}
		pods := float64(max(1, p.Pods))
		v[rowPods] = fmt.Sprintf("%d / %d", p.Running, p.Pods)
		v[rowP50], v[rowP99], v[rowMax] = dur(p.P50), dur(p.P99), dur(p.Max)
		v[rowMountSecs] = fmt.Sprintf("%.1f s", p.MountSeconds)
		v[rowKV] = fmt.Sprint(p.Mount.KV)
		v[rowKVPod] = fmt.Sprintf("%.2f", float64(p.Mount.KV)/pods)
		v[rowKV401] = fmt.Sprint(p.Mount.Challenges)
		v[rowEntra] = fmt.Sprint(p.Mount.Entra)
		v[rowToken] = fmt.Sprintf("%.2f", float64(p.Mount.Token)/pods)
		v[rowThrottled] = fmt.Sprint(p.Mount.Throttled + p.RotationKV.Throttled + p.SteadyCycleKV.Throttled)
		v[rowFiles] = fmt.Sprintf("%d / %d", p.FilesWrong, p.FilesChecked)
		v[rowDrvAPI] = fmt.Sprint(total(p.DriverAPI))
		var writes int64
		for k, n := range p.DriverAPI {
			switch verbOf(k) {
			case "create", "update", "patch", "delete":
				writes += n
			}
		}
		v[rowDrvAPIWrite] = fmt.Sprint(writes)
		v[rowKubeletAPI] = fmt.Sprint(total(p.KubeletAPI))
		var dRSS, pRSS int64
		var dCPU, pCPU time.Duration
		var nd, np int
		for k, rss := range p.RSSMax {
			if strings.HasSuffix(k, "/driver") {
				dRSS = max(dRSS, rss)
			} else {
				pRSS = max(pRSS, rss)
			}
		}
		for k, c := range p.CPU {
			if strings.HasSuffix(k, "/driver") {
				dCPU += c
				nd++
			} else {
				pCPU += c
				np++
			}
		}
		v[rowDrvRSS] = fmt.Sprintf("%.1f", float64(dRSS)/(1<<20))
		v[rowPrvRSS] = fmt.Sprintf("%.1f", float64(pRSS)/(1<<20))
		v[rowDrvCPU] = fmt.Sprintf("%.2f", dCPU.Seconds()/float64(max(1, nd)))
		v[rowPrvCPU] = fmt.Sprintf("%.2f", pCPU.Seconds()/float64(max(1, np)))
		if p.Rotated {
			v[rowRotPods] = fmt.Sprintf("%d / %d", p.RotationUpdated, p.RotationPods)
			v[rowRotSynced] = fmt.Sprint(p.SyncedUpdated)
			v[rowRotTime] = fmt.Sprintf("%.1f s", p.Propagation.Seconds())
			v[rowRotKV] = fmt.Sprint(p.RotationKV.KV)
			v[rowRotCycle] = fmt.Sprintf("%.1f", float64(p.SteadyCycleKV.reads())/float64(max(1, p.SteadyCycles)))
			v[rowRotBound] = fmt.Sprint(p.DistinctObjects * p.Nodes)
			v[rowRotWrites] = fmt.Sprintf("%.1f", float64(p.SteadyDriverWrite)/float64(max(1, p.SteadyCycles)))
			v[rowRotThrot] = fmt.Sprint(p.RotationKV.Throttled + p.SteadyCycleKV.Throttled)
		}
		if p.Churned {
			v[rowLeakMounts] = fmt.Sprint(p.LeakedMounts)
			v[rowLeakSPCPS] = fmt.Sprint(p.LeakedSPCPS)
			v[rowLeakSecrets] = fmt.Sprint(p.LeakedSecrets)
		}
		s := report.Series{Limit: limitPerSec, RSS: map[string][]float64{}}
		rotated := false
		for _, smp := range p.Series {
			s.T = append(s.T, smp.T)
			s.Running = append(s.Running, float64(smp.Running))
			s.KVps = append(s.KVps, float64(smp.KV))
			s.Entraps = append(s.Entraps, float64(smp.Entra))
			s.Propagation = append(s.Propagation, smp.Propagation)
			if smp.Propagation >= 0 {
				rotated = true
			}
		}
		if !rotated {
			s.Propagation = nil
		}
		for i, smp := range p.Series {
			for k, b := range smp.RSS {
				if s.RSS[k] == nil {
					s.RSS[k] = make([]float64, len(p.Series))
				}
				s.RSS[k][i] = float64(b) / (1 << 20)
			}
		}
		r.Passes = append(r.Passes, report.Pass{Label: p.Label, Values: v, API: p.DriverAPI, Kubelet: p.KubeletAPI, SteadyAPI: p.SteadyDriverAPI, Series: s})
	}
	return r
}

func dur(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
