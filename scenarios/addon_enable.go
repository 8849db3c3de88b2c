package scenarios

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// addonEnable proves "Verify the Azure Key Vault Provider for Secrets Store CSI
// Driver installation": after enabling, each node runs a driver pod with 3/3
// containers and a provider pod with 1/1, selected by the documented labels.
var addonEnable = Scenario{
	Name:    "addon/enable",
	Section: "Verify the Azure Key Vault Provider for Secrets Store CSI Driver installation",
	Summary: "enable the add-on; driver pods 3/3 and provider pods 1/1 Running on every node",
	Code:    []string{"addon.Enable", "deploy/charts/kvcsi"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		if err := env.Target.Addon(ctx, "enable", "--enable-secret-rotation", "--rotation-poll-interval", RotationPollInterval.String()); err != nil {
			return err
		}
		nodes, err := k.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		want := map[string]int{"secrets-store-csi-driver": 3, "secrets-store-provider-azure": 1}
		return k.Eventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
			pods, err := k.Clientset.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{
				LabelSelector: "app in (secrets-store-csi-driver,secrets-store-provider-azure)",
			})
			if err != nil {
				return false, err
			}
			ready := map[string]int{}
			for _, p := range pods.Items {
				app := p.Labels["app"]
				if len(p.Spec.Containers) != want[app] {
					return false, errorf("pod %s has %d containers, the documentation shows %d", p.Name, len(p.Spec.Containers), want[app])
				}
				if p.Status.Phase == corev1.PodRunning && allReady(p) {
					ready[app]++
				}
			}
			for app := range want {
				if ready[app] != len(nodes.Items) {
					return false, errorf("%d of %d nodes run a ready %s pod", ready[app], len(nodes.Items), app)
				}
			}
			return true, nil
		})
	},
}

func allReady(p corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready {
			return false
		}
	}
	return true
}
