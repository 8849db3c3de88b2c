package scenarios

import (
	"context"
	"strings"
)

// driverMetrics are the names the documentation's "Metrics provided by the
// Secrets Store CSI Driver" table lists.
var driverMetrics = []string{
	"total_node_publish", "total_node_unpublish", "total_node_publish_error", "total_node_unpublish_error",
	"total_sync_k8s_secret", "sync_k8s_secret_duration_sec", "total_rotation_reconcile",
	"total_rotation_reconcile_error", "rotation_reconcile_duration_sec",
}

// providerMetrics are the names of "Metrics provided by the Azure Key Vault Provider".
var providerMetrics = []string{"keyvault_request", "grpc_request"}

// missingMetrics returns the names that have no TYPE line in an exposition.
func missingMetrics(raw string, names []string) []string {
	var missing []string
	for _, n := range names {
		if !strings.Contains(raw, "# TYPE "+n+" ") {
			missing = append(missing, n)
		}
	}
	return missing
}

// metricsDriver proves "The Secrets Store CSI Driver" metrics: served on 8095
// with the documented names, and total_node_publish moves with a mount.
var metricsDriver = Scenario{
	Name:    "metrics/driver",
	Section: "Access metrics",
	Summary: "the driver serves the documented metrics on :8095 and total_node_publish counts a new mount",
	Code:    []string{"driver/metrics"},
	Run: func(ctx context.Context, env *Env) error {
		return metricsMove(ctx, env, "secrets-store-csi-driver", 8095, driverMetrics, "total_node_publish")
	},
}

// metricsProvider proves "The Azure Key Vault Provider" metrics: served on 8898
// with the documented names, and the request histograms count a new mount.
var metricsProvider = Scenario{
	Name:    "metrics/provider",
	Section: "Access metrics",
	Summary: "the provider serves keyvault_request and grpc_request on :8898 and they count a new mount",
	Code:    []string{"provider/metrics"},
	Run: func(ctx context.Context, env *Env) error {
		return metricsMove(ctx, env, "secrets-store-provider-azure", 8898, providerMetrics, "grpc_request_count")
	},
}

// metricsMove checks the names are exposed and that counter grows by at least
// one when a pod mounts a secret.
func metricsMove(ctx context.Context, env *Env, app string, port int, names []string, counter string) error {
	k := env.Target.Kube()
	before, raw, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
	if err != nil {
		return err
	}
	if missing := missingMetrics(raw, names); len(missing) > 0 {
		return errorf("%s on :%d does not expose %v", app, port, missing)
	}
	n0, _ := MetricSum(before, counter)
	if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("metrics")); err != nil {
		return err
	}
	if err := env.startPod(ctx, "busybox-secrets-store-inline", mountSecretYAML); err != nil {
		return err
	}
	after, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
	if err != nil {
		return err
	}
	n1, _ := MetricSum(after, counter)
	if n1 < n0+1 {
		return errorf("%s went from %v to %v across a mount", counter, n0, n1)
	}
	return nil
}
