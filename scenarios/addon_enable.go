package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
	Code:    []string{"addon.Manager.Enable", "charts.Render"},
	Run: func(ctx context.Context, env *Env) error {
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "enable", Rotation: true, PollInterval: RotationPollInterval.String()}); err != nil {
			return err
		}
		return waitAddonPods(ctx, env.Target.Kube(), "")
	},
}

// waitAddonPods waits until each add-on DaemonSet runs as many Ready pods as
// it wants (its desiredNumberScheduled: nodes it selects, so Windows, virtual
// and tainted-away nodes are not counted), the driver's with the documented 3
// containers and the provider's with 1, and no other; when wantArg is set, the
// driver's secrets-store container must also carry that argument (a rolled
// DaemonSet). The timeout grows with the node count (maxUnavailable 1).
func waitAddonPods(ctx context.Context, k *Kube, wantArg string) error {
	nodes, err := k.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	return k.Eventually(ctx, rolloutTimeout(len(nodes.Items)), func(ctx context.Context) (bool, error) {
		const sel = "app in (secrets-store-csi-driver,secrets-store-provider-azure)"
		dss, err := k.Clientset.AppsV1().DaemonSets("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		pods, err := k.Clientset.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		if err := addonPodsReady(dss.Items, pods.Items, wantArg); err != nil {
			return false, err
		}
		return true, nil
	})
}

// rolloutTimeout is how long a DaemonSet rollout may take on n nodes: 3
// minutes, plus 30 seconds a node beyond 3 (one node at a time).
func rolloutTimeout(n int) time.Duration {
	d := 3 * time.Minute
	if n > 3 {
		d += time.Duration(n-3) * 30 * time.Second
	}
	return d
}

// addonPodsReady is waitAddonPods' check of one listing.
func addonPodsReady(dss []appsv1.DaemonSet, pods []corev1.Pod, wantArg string) error {
	want := map[string]int{"secrets-store-csi-driver": 3, "secrets-store-provider-azure": 1}
	desired := map[string]int{}
	for _, ds := range dss {
		if ds.Status.ObservedGeneration < ds.Generation {
			return errorf("DaemonSet %s: generation %d not yet observed", ds.Name, ds.Generation)
		}
		desired[ds.Labels["app"]] += int(ds.Status.DesiredNumberScheduled)
	}
	ready, total := map[string]int{}, map[string]int{}
	for _, p := range pods {
		app := p.Labels["app"]
		if len(p.Spec.Containers) != want[app] {
			return errorf("pod %s has %d containers, the documentation shows %d", p.Name, len(p.Spec.Containers), want[app])
		}
		total[app]++
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !allReady(p) {
			continue
		}
		if wantArg != "" && app == "secrets-store-csi-driver" && !hasArg(p, wantArg) {
			continue
		}
		ready[app]++
	}
	for _, app := range []string{"secrets-store-csi-driver", "secrets-store-provider-azure"} {
		if desired[app] == 0 {
			return errorf("no %s DaemonSet schedules a pod (desiredNumberScheduled 0)", app)
		}
		if ready[app] != desired[app] {
			return errorf("%d of %d wanted %s pods are ready with containers that never restarted (%s)", ready[app], desired[app], app, restarts(pods))
		}
		if total[app] != desired[app] {
			return errorf("%d %s pods for %d wanted: a rollout is still going on", total[app], app, desired[app])
		}
	}
	return nil
}

// hasArg says whether a container of p runs with the flag setting arg
// ("--name=value"), written as --name=value or --name value; a boolean flag
// absent from the command line counts as =false.
func hasArg(p corev1.Pod, arg string) bool {
	name, value, _ := strings.Cut(arg, "=")
	for _, c := range p.Spec.Containers {
		args := append(append([]string{}, c.Command...), c.Args...)
		for i, a := range args {
			switch {
			case a == arg, a == name && i+1 < len(args) && args[i+1] == value:
				return true
			case a == name && value == "true":
				return true
			case a == name || strings.HasPrefix(a, name+"="):
				return false
			}
		}
	}
	return value == "false"
}

// allReady says whether every container is ready and has never restarted:
// the documentation's output shows RESTARTS 0, and a crash-looping container
// is briefly ready between its crashes.
func allReady(p corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready || c.RestartCount > 0 {
			return false
		}
	}
	return true
}

// WaitAddonPods waits until every node runs the add-on's pods, Ready, with the
// documented container counts; a non-empty driverArg ("--flag=value") must
// also be on the driver's command line. Tests that change the add-on use it.
func WaitAddonPods(ctx context.Context, k *Kube, driverArg string) error {
	return waitAddonPods(ctx, k, driverArg)
}

// WaitDaemonSetRolled waits until a DaemonSet's pods all run its current
// template (after an update that changes only the provider, for example).
func WaitDaemonSetRolled(ctx context.Context, k *Kube, ns, name string) error {
	return k.Eventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		ds, err := k.Clientset.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := ds.Status
		if s.ObservedGeneration < ds.Generation || s.UpdatedNumberScheduled != s.DesiredNumberScheduled ||
			s.NumberReady != s.DesiredNumberScheduled || s.NumberUnavailable > 0 || s.DesiredNumberScheduled == 0 {
			return false, errorf("DaemonSet %s/%s: %d of %d updated, %d ready", ns, name, s.UpdatedNumberScheduled, s.DesiredNumberScheduled, s.NumberReady)
		}
		return true, nil
	})
}

// Find returns the scenario of the catalogue with that name.
func Find(name string) (Scenario, bool) {
	for _, s := range Catalogue() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// restarts describes the containers that restarted and why they last ended.
func restarts(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount == 0 {
				continue
			}
			why := ""
			if t := c.LastTerminationState.Terminated; t != nil {
				why = fmt.Sprintf(", last %s exit %d", t.Reason, t.ExitCode)
			}
			parts = append(parts, fmt.Sprintf("%s/%s restarted %d times%s", p.Name, c.Name, c.RestartCount, why))
		}
	}
	if len(parts) == 0 {
		return "no restarts"
	}
	return strings.Join(parts, "; ")
}
