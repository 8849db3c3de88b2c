package scenarios

import (
	"context"
	"strings"
	"time"
)

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

// metricsDriver proves "The Secrets Store CSI Driver" metrics: served on 8095,
// and total_node_publish / total_node_unpublish count a pod's mount and
// unmount. (Prometheus prints a labelled series only once it was observed, so
// the error, sync and rotation series appear with their first event.)
var metricsDriver = Scenario{
	Name:    "metrics/driver",
	Section: "Access metrics",
	Summary: "the driver serves metrics on :8095; total_node_publish counts a new mount and total_node_unpublish its removal",
	Code:    []string{"driver/metrics.Recorder"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		const app, port = "secrets-store-csi-driver", 8095
		all, err := k.NodeMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		node, err := mountForMetrics(ctx, env)
		if err != nil {
			return err
		}
		before := all[node]
		mounted, raw, err := k.PodMetricsOnNode(ctx, "kube-system", "app="+app, node, port)
		if err != nil {
			return err
		}
		if err := moved(before, mounted, "total_node_publish"); err != nil {
			return err
		}
		if missing := missingMetrics(raw, []string{"total_node_publish"}); len(missing) > 0 {
			return errorf("%s on :%d does not expose %v after a mount", app, port, missing)
		}
		if err := k.Delete(ctx, env.Namespace, env.Render(mountSecretYAML)); err != nil {
			return err
		}
		// The kubelet unpublishes after the pod object is gone; wait for it.
		return k.Eventually(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			after, _, err := k.PodMetricsOnNode(ctx, "kube-system", "app="+app, node, port)
			if err != nil {
				return false, err
			}
			if err := moved(mounted, after, "total_node_unpublish"); err != nil {
				return false, err
			}
			return true, nil
		})
	},
}

// metricsProvider proves "The Azure Key Vault Provider" metrics: served on
// 8898, and the keyvault_request and grpc_request histograms count a mount.
var metricsProvider = Scenario{
	Name:    "metrics/provider",
	Section: "Access metrics",
	Summary: "the provider serves keyvault_request and grpc_request on :8898 and they count a new mount",
	Code:    []string{"provider/metrics.Recorder"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		const app, port = "secrets-store-provider-azure", 8898
		all, err := k.NodeMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		node, err := mountForMetrics(ctx, env)
		if err != nil {
			return err
		}
		before := all[node]
		after, raw, err := k.PodMetricsOnNode(ctx, "kube-system", "app="+app, node, port)
		if err != nil {
			return err
		}
		if missing := missingMetrics(raw, providerMetrics); len(missing) > 0 {
			return errorf("%s on :%d does not expose %v after a mount", app, port, missing)
		}
		if err := moved(before, after, "grpc_request_count"); err != nil {
			return err
		}
		return moved(before, after, "keyvault_request_count")
	},
}

// mountForMetrics starts the documentation's pod with a fresh secret value
// and returns its node: only that node's driver and provider count the mount
// (a node whose pod was not yet scraped before compares against zero).
func mountForMetrics(ctx context.Context, env *Env) (string, error) {
	if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("metrics")); err != nil {
		return "", err
	}
	const pod = "busybox-secrets-store-inline"
	if err := env.startPod(ctx, pod, mountSecretYAML); err != nil {
		return "", err
	}
	return env.Target.Kube().PodNode(ctx, env.Namespace, pod)
}

// moved checks that counter grew by at least one between two scrapes.
func moved(before, after map[string]float64, counter string) error {
	n0, _ := MetricSum(before, counter)
	n1, ok := MetricSum(after, counter)
	if !ok {
		return errorf("%s is not exposed", counter)
	}
	if n1 < n0+1 {
		return errorf("%s went from %v to %v", counter, n0, n1)
	}
	return nil
}
