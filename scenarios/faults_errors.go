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
	Summary: "the first Key Vault requests get 5 s of latency (2), a 503 (3) or a dropped connection (3), for at most 15 s, during a mount of 10 pods and a due rotation; no mounted file changes but to the full new version, every pod becomes Running, and no provider call ran past its gRPC deadline",
	Code:    []string{"provider/keyvault.Fetcher", "kvemulator.AdminClient.AddFault"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		old := uniqueValue("flaky-old")
		if _, err := v.SetSecret(ctx, "flaky1", old); err != nil {
			return err
		}
		class := userMSIClass("flaky", objects(object("objectName", "flaky1", "objectType", "secret")), "")
		if err := env.startPod(ctx, "steady", class+"---"+busyboxPod("steady", "flaky")); err != nil {
			return err
		}
		const app, port = "secrets-store-provider-azure", 8898
		before, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		next := uniqueValue("flaky-new")
		if _, err := v.SetSecret(ctx, "flaky1", next); err != nil {
			return err
		}
		defer func() {
			if cerr := ft.ClearVaultFaults(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		// The next requests, in order: two 5 s late, three 503s, three
		// dropped connections (the provider's cache answers repeated reads
		// of one object, so few requests reach the vault: each rule is
		// used once and all of them before the pods' first mounts succeed).
		var rules []kvemulator.Fault
		for i := 0; i < 2; i++ {
			rules = append(rules, kvemulator.Fault{Latency: kvemulator.Duration(5 * time.Second), Count: 1})
		}
		for i := 0; i < 3; i++ {
			rules = append(rules, kvemulator.Fault{Status: 503, Count: 1}, kvemulator.Fault{Drop: true, Count: 1})
		}
		for _, r := range rules {
			if _, err := ft.AddVaultFault(r); err != nil {
				return err
			}
		}
		pods, err := env.startFaultPods(ctx, "flaky", "flaky", faultPods)
		if err != nil {
			return err
		}
		checks := 0
		for end := time.Now().Add(flakyFor); time.Now().Before(end); time.Sleep(time.Second) {
			if err := env.expectOneOf(ctx, "steady", "/mnt/secrets-store/flaky1", old, next); err != nil {
				return errorf("while Key Vault fails: %v", err)
			}
			checks++
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
			if err := env.expectFile(ctx, p, "/mnt/secrets-store/flaky1", next); err != nil {
				return err
			}
			checks++
		}
		if err := env.waitFile(ctx, "steady", "/mnt/secrets-store/flaky1", next, rotationWait()); err != nil {
			return errorf("rotation did not complete after the failures: %v", err)
		}
		checks++
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
		env.Figure("faults injected (latency, 503, drop)", injected)
		env.Figure("keyvault_request errors counted", kvErrors)
		env.Figure("gRPC deadlines exceeded", deadline)
		env.Figure("pods Running", len(pods))
		env.Figure("mounts checked", checks)
		env.Figure("content lost", 0)
		if injected == 0 {
			return errorf("no request met an injected fault: the scenario proved nothing")
		}
		if deadline > 0 {
			return errorf("%v provider calls ended DeadlineExceeded: its retries did not stay within the gRPC deadline", deadline)
		}
		return nil
	},
}
