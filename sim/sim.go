// Package sim is the sim target: thousands of pods on simulated nodes where
// everything a secret flows through is real. The control plane is localcluster's
// (control-plane only, plus kube-scheduler); every simulated node runs a real
// secrets-store-csi-driver and a real secrets-store-provider-azure process; the
// Key Vault emulator serves behind a TLS front that adds per-request latency and
// keeps the service limits on; only the kubelet is simulated (package
// simkubelet). Run a workload with Run; docs/sim.md describes what is measured.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/kvcsi/kvcsi/sim/report"
)

// Identity modes.
const (
	WorkloadIdentity = "workload-identity"
	ServicePrincipal = "service-principal"
)

// Workloads are the names Run accepts.
var Workloads = []string{"mount-storm", "rotation", "churn", "identities"}

// Options configure one sim run. Zero fields take the defaults of Defaults.
type Options struct {
	Workload   string
	Nodes      int
	Pods       int
	Objects    int // secrets per SecretProviderClass
	Classes    int // SecretProviderClasses (pods are spread over them)
	Identities int // workload identities (service accounts); class c uses identity c mod Identities
	// KVLatency and KVJitter shape every Key Vault and Entra ID request:
	// uniform in KVLatency±KVJitter.
	KVLatency, KVJitter time.Duration
	// Rotation turns on the drivers' rotation (and the CSIDriver's
	// requiresRepublish, as the chart does); RotationInterval is the
	// driver's --rotation-poll-interval.
	Rotation         bool
	RotationInterval time.Duration
	// SyncPeriod is the simkubelets' republish period (kubelet's 1m).
	SyncPeriod time.Duration
	// CacheTTL is the providers' --cache-ttl for the main pass (default 10s).
	CacheTTL time.Duration
	// Compare also runs the cache-off configuration (--cache-ttl=0).
	Compare bool
	// ChurnCycles is how often churn scales up and down.
	ChurnCycles    int
	MaxPodsPerNode int
	// Timeout bounds each phase (pods Running, propagation, deletion).
	Timeout time.Duration
	// RunDir holds the cluster, node directories and logs; OutDir the report.
	RunDir, OutDir string
	// BinDir holds prebuilt driver and provider binaries (default: build
	// them); K8sBinDir the control-plane binaries (default: localcluster's
	// cache).
	BinDir, K8sBinDir string
	// IdentityMode is how pods authenticate: WorkloadIdentity (default; the
	// SecretProviderClass names the client ID, the pod's service-account token
	// is the assertion) or ServicePrincipal (client ID and secret from a
	// nodePublishSecretRef).
	IdentityMode string
	// Exclusive waits for localcluster's host lock and holds it, so no full
	// local cluster runs while the sim measures.
	Exclusive bool
	// Scenario names the catalogue entry being run, for the report.
	Scenario string
	Progress io.Writer
	Logger   *slog.Logger
}

// Defaults are the defaults: 1,000 pods on 20 nodes, 5 secrets each,
// one class, one identity, 20 ms ± 10 ms per request.
func Defaults() Options {
	return Options{
		Workload: "mount-storm", Nodes: 20, Pods: 1000, Objects: 5, Classes: 1, Identities: 1,
		KVLatency: 20 * time.Millisecond, KVJitter: 10 * time.Millisecond,
		RotationInterval: 30 * time.Second, SyncPeriod: time.Minute, CacheTTL: 10 * time.Second,
		Compare: true, ChurnCycles: 3, Timeout: 15 * time.Minute,
		RunDir: "/var/lib/kvcsi/sim", OutDir: "_output/sim",
	}
}

func (o Options) withDefaults() (Options, error) {
	d := Defaults()
	if o.Workload == "" {
		o.Workload = d.Workload
	}
	setI := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	setI(&o.Nodes, d.Nodes)
	setI(&o.Pods, d.Pods)
	setI(&o.Objects, d.Objects)
	setI(&o.Classes, d.Classes)
	setI(&o.Identities, d.Identities)
	setI(&o.ChurnCycles, d.ChurnCycles)
	setD(&o.RotationInterval, d.RotationInterval)
	setD(&o.SyncPeriod, d.SyncPeriod)
	setD(&o.Timeout, d.Timeout)
	if o.KVLatency < 0 || o.KVJitter < 0 || o.KVJitter > o.KVLatency {
		return o, fmt.Errorf("--kv-latency %v and --kv-jitter %v: both ≥ 0 and jitter ≤ latency", o.KVLatency, o.KVJitter)
	}
	if o.CacheTTL < 0 {
		return o, errors.New("--cache-ttl must be ≥ 0")
	}
	if o.RunDir == "" {
		o.RunDir = d.RunDir
	}
	if o.OutDir == "" {
		o.OutDir = d.OutDir
	}
	if o.MaxPodsPerNode <= 0 {
		o.MaxPodsPerNode = max(110, 2*((o.Pods+o.Nodes-1)/o.Nodes))
	}
	switch o.Workload {
	case "mount-storm":
	case "rotation", "churn":
		o.Rotation = true
	case "identities":
		if o.Identities < 2 {
			o.Identities = 100
		}
		if o.Classes < 2 {
			o.Classes = 10
		}
	default:
		return o, fmt.Errorf("unknown workload %q: use one of %v", o.Workload, Workloads)
	}
	switch o.IdentityMode {
	case "":
		o.IdentityMode = WorkloadIdentity
	case WorkloadIdentity, ServicePrincipal:
	default:
		return o, fmt.Errorf("unknown identity mode %q: use %s or %s", o.IdentityMode, WorkloadIdentity, ServicePrincipal)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func (o Options) cacheTTL() time.Duration {
	if o.CacheTTL == 0 {
		return 10 * time.Second
	}
	return o.CacheTTL
}

// Result is a finished run: the report, the directory it was written to and
// the invariant checks of every pass.
type Result struct {
	Report *report.Report
	Dir    string
	Passes []*PassResult
}

// Run starts a sim, runs the workload (twice with Compare: the providers'
// default cache, then --cache-ttl=0), writes OutDir/<workload>/report.md with
// its plots and returns the numbers.
func Run(ctx context.Context, opt Options) (*Result, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	e, err := startEnv(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	res := &Result{Dir: filepath.Join(opt.OutDir, opt.Workload)}
	configs := []struct {
		label string
		ttl   time.Duration
	}{{fmt.Sprintf("cache on (--cache-ttl=%s)", opt.cacheTTL()), opt.cacheTTL()}}
	if opt.Compare {
		configs = append(configs, struct {
			label string
			ttl   time.Duration
		}{"cache off (--cache-ttl=0; request collapsing stays on)", 0})
	}
	for i, c := range configs {
		if i > 0 {
			e.progress("switching every provider to " + c.label)
			if err := e.restartProviders(c.ttl); err != nil {
				return nil, err
			}
			if err := e.emu.Admin().Reset(); err != nil {
				return nil, err
			}
		}
		e.progress("pass: " + c.label)
		pr, err := e.runPass(ctx, c.label)
		if pr != nil {
			res.Passes = append(res.Passes, pr)
		}
		if err == nil {
			err = e.deleteAllPods(ctx)
		}
		if err != nil {
			// Keep what was measured: write the report of the passes so far.
			if len(res.Passes) > 0 {
				res.Report = e.buildReport(res.Passes)
				res.Report.Notes = append(res.Report.Notes, "The run stopped early: "+err.Error())
				_ = report.Write(res.Dir, res.Report)
			}
			return res, err
		}
	}
	res.Report = e.buildReport(res.Passes)
	if err := report.Write(res.Dir, res.Report); err != nil {
		return res, err
	}
	if opt.Progress != nil {
		res.Report.Summary(opt.Progress)
		fmt.Fprintf(opt.Progress, "report: %s\n", filepath.Join(res.Dir, "report.md"))
	}
	return res, nil
}

// apps is the number of Entra ID applications: min(Identities, Classes).
// Class c names application c mod apps in its clientID; service account s
// has a federated credential on application s mod apps.
func (o Options) apps() int { return max(1, min(o.Identities, o.Classes)) }

// podPlacement is pod i's class and service account: class i mod Classes,
// and a service account federated to that class's application.
func (o Options) podPlacement(i int) (class, sa int) {
	class = i % o.Classes
	a := class % o.apps()
	k := max(1, o.Identities/o.apps())
	return class, a + o.apps()*((i/o.Classes)%k)
}
