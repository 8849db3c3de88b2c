package scenarios

import (
	"context"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// flakyFor is how long Key Vault misbehaves in faults/keyvault-errors-and-latency.
const flakyFor = 15 * time.Second

var faultsErrorsAndLatency = Scenario{
	Name:    "faults/keyvault-errors-and-latency",
	Section: "Troubleshooting",
	Summary: "the first Key Vault requests for each of two objects get 5 s of latency, a 503 and a dropped connection, while 10 pods mount (one, then nine together) and a rotation is due; no mounted file changes but to the full new version, every pod becomes Running, the provider's retries absorb every transient fault (its keyvault_request_count counts no failed request, no FailedMount or MountRotationFailed event says Key Vault failed) and no provider call ran past its gRPC deadline",
	Code:    []string{"provider/keyvault.Fetcher", "kvemulator.AdminClient.AddFault"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		names := []string{"flaky1", "flaky2"}
		old, next := map[string]string{}, map[string]string{}
		var objs []string
		for _, n := range names {
			old[n] = uniqueValue(n + "-old")
			if _, err := v.SetSecret(ctx, n, old[n]); err != nil {
				return err
			}
			objs = append(objs, object("objectName", n, "objectType", "secret"))
		}
		class := userMSIClass("flaky", objects(objs...), "")
		if err := env.startPod(ctx, "steady", class+"---"+busyboxPod("steady", "flaky")); err != nil {
			return err
		}
		const app, port = "secrets-store-provider-azure", 8898
		before, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		for _, n := range names {
			next[n] = uniqueValue(n + "-new")
			if _, err := v.SetSecret(ctx, n, next[n]); err != nil {
				return err
			}
		}
		defer func() {
			if cerr := ft.ClearVaultFaults(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		// The next requests for each object, in order: one 5 s late, one
		// 503, one dropped connection, each rule used once. A request
		// meets at most two failures, fewer than the provider's four
		// attempts (azcore's three retries), so a provider that retries
		// never fails a mount or a rotation for them; one that does not
		// retry does, and its Warning events say so.
		var rules []kvemulator.Fault
		for _, n := range names {
			rules = append(rules,
				kvemulator.Fault{Object: n, Latency: kvemulator.Duration(5 * time.Second), Count: 1},
				kvemulator.Fault{Object: n, Status: 503, Count: 1},
				kvemulator.Fault{Object: n, Drop: true, Count: 1})
		}
		for _, r := range rules {
			if _, err := ft.AddVaultFault(r); err != nil {
				return err
			}
		}
		// One pod first, then the others together: every first mount
		// reads Key Vault afresh, but concurrent reads of one object share
		// one request (and the steady pod's rotation is served from the
		// provider's cache), so a single wave would meet only the first
		// rule of each object. The first pod meets the latencies, the wave
		// after it the 503s and dropped connections.
		if err := env.apply(ctx, busyboxPod("flaky-first", "flaky")); err != nil {
			return err
		}
		if err := k.WaitPodReady(ctx, env.Namespace, "flaky-first", podReadyTimeout); err != nil {
			return errorf("the first pod, behind 5 s of latency: %v", err)
		}
		pods, err := env.startFaultPods(ctx, "flaky", "flaky", faultPods-1)
		if err != nil {
			return err
		}
		pods = append(pods, "flaky-first")
		checks := 0
		for end := time.Now().Add(flakyFor); time.Now().Before(end); time.Sleep(time.Second) {
			for _, n := range names {
				if err := env.expectOneOf(ctx, "steady", "/mnt/secrets-store/"+n, old[n], next[n]); err != nil {
					return errorf("while Key Vault fails: %v", err)
				}
				checks++
			}
		}
		_, active, err := ft.VaultFaults()
		if err != nil {
			return err
		}
		injected := len(rules) - active
		if err := ft.ClearVaultFaults(); err != nil {
			return err
		}
		for _, p := range pods {
			if err := k.WaitPodReady(ctx, env.Namespace, p, faultsSettle); err != nil {
				return errorf("after the failures: %v", err)
			}
			for _, n := range names {
				if err := env.expectFile(ctx, p, "/mnt/secrets-store/"+n, next[n]); err != nil {
					return err
				}
				checks++
			}
		}
		for _, n := range names {
			if err := env.waitFile(ctx, "steady", "/mnt/secrets-store/"+n, next[n], rotationWait()); err != nil {
				return errorf("rotation did not complete after the failures: %v", err)
			}
			checks++
		}
		after, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		var kvErrors, deadline float64
		for s, n := range after {
			d := n - before[s]
			switch {
			case strings.HasPrefix(s, "keyvault_request_count{") && !strings.Contains(s, `error=""`):
				kvErrors += d
			case strings.HasPrefix(s, "grpc_request_count{") && strings.Contains(s, `grpc_code="DeadlineExceeded"`):
				deadline += d
			}
		}
		// What reached the user: a mount or rotation that failed because
		// of Key Vault (the provider's messages name "key vault").
		surfaced := 0
		var sample string
		for _, reason := range []string{"FailedMount", "MountRotationFailed"} {
			n, evs, err := env.eventCount(ctx, reason, "key vault")
			if err != nil {
				return err
			}
			surfaced += n
			if len(evs) > 0 && sample == "" {
				sample = reason + ": " + kvTruncate(evs[0].Message, 300)
			}
		}
		env.Figure("faults injected (latency, 503, drop)", injected)
		env.Figure("keyvault_request errors counted", kvErrors)
		env.Figure("failures that reached a pod's events", surfaced)
		env.Figure("gRPC deadlines exceeded", deadline)
		env.Figure("pods Running", len(pods))
		env.Figure("mounts checked", checks)
		env.Figure("content lost", 0)
		if injected < len(rules) {
			return errorf("only %d of the %d injected faults met a request: the scenario did not exercise the provider's retries", injected, len(rules))
		}
		if deadline > 0 {
			return errorf("%v provider calls ended DeadlineExceeded: its retries did not stay within the gRPC deadline", deadline)
		}
		// The driver retries a provider that answers Unavailable, so a
		// provider without retries can still bring every mount up; its
		// own keyvault_request_count says whether its retries absorbed
		// the faults (it counts a request once, after its retries).
		if kvErrors > 0 {
			return errorf("the provider's keyvault_request_count counted %v failed Key Vault requests although none met more than two transient faults: its retries did not absorb them", kvErrors)
		}
		if surfaced > 0 {
			return errorf("%d Warning events say Key Vault failed although no request met more than two transient faults: the provider's retries did not absorb them (%s)", surfaced, sample)
		}
		return nil
	},
}

// kvTruncate shortens an event message for an error.
func kvTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
