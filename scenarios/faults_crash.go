package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// faultPods is how many pods the faults/ scenarios mount at once: the issue
// says 20 for some; 10 show the same behaviour (every pod's mount retried
// by the kubelet) in half the time.
const faultPods = 10

// addonPod returns the Running add-on pod of app (secrets-store-csi-driver
// or secrets-store-provider-azure) and its first container's ID.
func addonPod(ctx context.Context, k *Kube, app string) (corev1.Pod, error) {
	pods, err := k.Clientset.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return corev1.Pod{}, err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0 {
			return p, nil
		}
	}
	return corev1.Pod{}, errorf("no running %s pod", app)
}

// containerID is the ID of the pod's container name.
func containerID(p corev1.Pod, name string) string {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == name || name == "" {
			return c.ContainerID
		}
	}
	return ""
}

// startFaultPods applies n busybox pods named prefix-0.. mounting class,
// without waiting.
func (e *Env) startFaultPods(ctx context.Context, prefix, class string, n int) ([]string, error) {
	var names []string
	var docs []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		names = append(names, name)
		docs = append(docs, busyboxPod(name, class))
	}
	return names, e.apply(ctx, strings.Join(docs, "---"))
}

// waitPodsReady waits for every pod and returns how many FailedMount
// events they had.
func (e *Env) waitPodsReady(ctx context.Context, pods []string, timeout time.Duration) error {
	for _, p := range pods {
		if err := e.Target.Kube().WaitPodReady(ctx, e.Namespace, p, timeout); err != nil {
			return err
		}
	}
	return nil
}

// eventCount counts the namespace's events with reason whose message
// contains substr (any, when empty), over their repeat counts.
func (e *Env) eventCount(ctx context.Context, reason, substr string) (int, []corev1.Event, error) {
	evs, err := e.Target.Kube().Clientset.CoreV1().Events(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var out []corev1.Event
	for _, ev := range evs.Items {
		if ev.Reason == reason && (substr == "" || strings.Contains(strings.ToLower(ev.Message), strings.ToLower(substr))) {
			c := int(ev.Count)
			if c == 0 {
				c = 1
			}
			n += c
			out = append(out, ev)
		}
	}
	return n, out, nil
}

// restoreAddon deletes the add-on pod of app so that its DaemonSet starts a
// fresh one (the catalogue's later checks want RESTARTS 0, as the
// documentation shows) and waits for the add-on to be ready.
func restoreAddon(ctx context.Context, k *Kube, app string) error {
	p, err := addonPod(ctx, k, app)
	if err != nil {
		return err
	}
	zero := int64(0)
	if err := k.Clientset.CoreV1().Pods("kube-system").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return err
	}
	return waitAddonPods(ctx, k, "")
}

var faultsProviderCrash = Scenario{
	Name:    "faults/provider-crash-during-mount",
	Section: "Troubleshooting",
	Summary: "the provider container is killed (SIGKILL through containerd) while 10 pods mount; every pod becomes Running once it is back, and a pod mounted before stays readable throughout",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume", "driver/providerclient.New"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		const app = "secrets-store-provider-azure"
		value := uniqueValue("crash")
		if _, err := env.Target.Vault().SetSecret(ctx, "crash1", value); err != nil {
			return err
		}
		class := userMSIClass("crash", objects(object("objectName", "crash1", "objectType", "secret")), "")
		if err := env.startPod(ctx, "before", class+"---"+busyboxPod("before", "crash")); err != nil {
			return err
		}
		prov, err := addonPod(ctx, k, app)
		if err != nil {
			return err
		}
		// A fresh provider pod afterwards, also when the scenario fails:
		// the later scenarios expect RESTARTS 0 and no crash-loop backoff.
		defer func() {
			if rerr := restoreAddon(context.WithoutCancel(ctx), k, app); rerr != nil && err == nil {
				err = rerr
			}
		}()
		// Killed first, then the pods start; and killed again whenever the
		// kubelet has restarted it, until a mount has failed on it. One kill
		// races the restart (about a second): pods that reach
		// NodePublishVolume after it never meet the outage, and a run where
		// none does proves nothing (a driver that reports an empty volume
		// mounted while its provider is down passed such a run).
		killed := map[string]bool{}
		kill := func(id string) error {
			if id == "" || killed[id] {
				return nil
			}
			killed[id] = true
			return ft.KillContainer(ctx, id)
		}
		if err := kill(containerID(prov, "")); err != nil {
			return err
		}
		down := time.Now()
		pods, err := env.startFaultPods(ctx, "mounting", "crash", faultPods)
		if err != nil {
			return err
		}
		failedDown := 0
		for end := time.Now().Add(providerDownFor); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
			if failedDown, _, err = env.eventCount(ctx, "FailedMount", ""); err != nil {
				return err
			}
			if failedDown > 0 {
				break
			}
			if p, perr := addonPod(ctx, k, app); perr == nil {
				if err := kill(runningContainerID(p)); err != nil {
					return err
				}
			}
		}
		env.Figure("provider kills", len(killed))
		env.Figure("provider held down (s)", int(time.Since(down).Seconds()))
		checks := 0
		// The pod mounted before reads its file while the provider is
		// down and while the new pods' mounts are retried.
		readBefore := func() error {
			checks++
			if err := env.expectFile(ctx, "before", "/mnt/secrets-store/crash1", value); err != nil {
				return errorf("pod mounted before the crash lost its content: %v", err)
			}
			return nil
		}
		if err := readBefore(); err != nil {
			return err
		}
		for _, p := range pods {
			if err := k.WaitPodReady(ctx, env.Namespace, p, faultsSettle); err != nil {
				return errorf("after the provider crash: %v", err)
			}
			if err := readBefore(); err != nil {
				return err
			}
			if err := env.expectFile(ctx, p, "/mnt/secrets-store/crash1", value); err != nil {
				return err
			}
			checks++
		}
		failed, _, err := env.eventCount(ctx, "FailedMount", "")
		if err != nil {
			return err
		}
		if failedDown == 0 {
			return errorf("the provider was held down for %s (%d kills) while %d pods mounted, and no mount failed (no FailedMount event): the driver reported volumes mounted without their provider", providerDownFor, len(killed), len(pods))
		}
		prov2, err := addonPod(ctx, k, app)
		if err != nil {
			return err
		}
		restarts := 0
		for _, c := range prov2.Status.ContainerStatuses {
			restarts += int(c.RestartCount)
		}
		env.Figure("provider restarts", restarts)
		env.Figure("pods Running", len(pods))
		env.Figure("FailedMount retried", failed)
		env.Figure("mounts checked", checks)
		env.Figure("content lost", 0)
		return nil
	},
}

// providerDownFor bounds how long faults/provider-crash-during-mount keeps
// the provider down waiting for a mount to fail on it; a mount fails within
// seconds (the driver's three gRPC attempts take under a second).
const providerDownFor = 30 * time.Second

// runningContainerID is the ID of the pod's first container while it runs,
// "" while it is restarting or waiting out a crash-loop backoff.
func runningContainerID(p corev1.Pod) string {
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
		return ""
	}
	return p.Status.ContainerStatuses[0].ContainerID
}
