package scenarios

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// stormFor is how long the throttling storm lasts (the 30 s: three
// rotation polls of the run, and every pod's first mount with the
// provider's three retries honouring Retry-After); stormPods is how many
// pods mount during it (the 20).
const (
	stormFor  = 30 * time.Second
	stormPods = 20
)

// expectOneOf checks that a mounted file holds one of the complete values
// (an earlier or a new version, never empty or anything else). Only lengths
// are printed: the content is secret.
func (e *Env) expectOneOf(ctx context.Context, pod, path string, values ...string) error {
	got, err := e.cat(ctx, pod, path)
	if err != nil {
		return err
	}
	for _, v := range values {
		if got == v {
			return nil
		}
	}
	return errorf("%s in pod %s holds %d bytes that are none of the %d complete versions", path, pod, len(got), len(values))
}

var faultsThrottlingStorm = Scenario{
	Name:    "faults/keyvault-throttling-storm",
	Section: "Troubleshooting",
	Summary: "Key Vault answers 429 with Retry-After to every request for 30 s during a mount of 20 pods and a due rotation; no mounted file is emptied or changed but to the full new version, the storm holds back every mount and the rotation, every pod becomes Running after, each pod's FailedMount events say throttled and the provider's keyvault_request metric counts it",
	Code:    []string{"provider/keyvault.Classify", "driver/rotation.Rotator.ReconcileAll", "kvemulator.AdminClient.AddFault"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		old := uniqueValue("storm-old")
		if _, err := v.SetSecret(ctx, "storm1", old); err != nil {
			return err
		}
		class := userMSIClass("storm", objects(object("objectName", "storm1", "objectType", "secret")), "")
		if err := env.startPod(ctx, "steady", class+"---"+busyboxPod("steady", "storm")); err != nil {
			return err
		}
		const app, port = "secrets-store-provider-azure", 8898
		before, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		// A new version, so a rotation is due during the storm.
		next := uniqueValue("storm-new")
		if _, err := v.SetSecret(ctx, "storm1", next); err != nil {
			return err
		}
		if _, err := ft.AddVaultFault(kvemulator.Fault{Status: 429, RetryAfter: 2}); err != nil {
			return err
		}
		cleared := false
		defer func() {
			if !cleared {
				if cerr := ft.ClearVaultFaults(); cerr != nil && err == nil {
					err = cerr
				}
			}
		}()
		pods, err := env.startFaultPods(ctx, "storm", "storm", stormPods)
		if err != nil {
			return err
		}
		checks := 0
		for end := time.Now().Add(stormFor); time.Now().Before(end); time.Sleep(time.Second) {
			if err := env.expectOneOf(ctx, "steady", "/mnt/secrets-store/storm1", old, next); err != nil {
				return errorf("during the storm: %v", err)
			}
			checks++
		}
		// The storm covered the rotation and the mounts: the new version,
		// due since before it began, has not reached the steady pod, and
		// no pod's mount got through.
		if got, err := env.cat(ctx, "steady", "/mnt/secrets-store/storm1"); err != nil {
			return err
		} else if got != old {
			return errorf("the steady pod rotated during the storm (%d bytes, the new version's length is %d): a request got through, so the storm did not hold the rotation back", len(got), len(next))
		}
		ready := 0
		for _, p := range pods {
			pod, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, p, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					// A mount that got through must still hold a
					// complete version.
					if err := env.expectOneOf(ctx, p, "/mnt/secrets-store/storm1", old, next); err != nil {
						return errorf("during the storm: %v", err)
					}
					ready++
				}
			}
		}
		applied, _, err := ft.VaultFaults()
		if err != nil {
			return err
		}
		if err := ft.ClearVaultFaults(); err != nil {
			return err
		}
		cleared = true
		env.Figure("429s answered", applied)
		if ready > 0 {
			return errorf("%d of the %d pods became Ready during the storm: their mounts were not throttled", ready, len(pods))
		}
		for _, p := range pods {
			if err := k.WaitPodReady(ctx, env.Namespace, p, faultsSettle); err != nil {
				return errorf("after the storm: %v", err)
			}
			if err := env.expectFile(ctx, p, "/mnt/secrets-store/storm1", next); err != nil {
				return err
			}
			checks++
		}
		if err := env.expectOneOf(ctx, "steady", "/mnt/secrets-store/storm1", old, next); err != nil {
			return err
		}
		if err := env.waitFile(ctx, "steady", "/mnt/secrets-store/storm1", next, rotationWait()); err != nil {
			return errorf("rotation did not complete after the storm: %v", err)
		}
		checks++
		throttledEvents, evs, err := env.eventCount(ctx, "FailedMount", "throttled")
		if err != nil {
			return err
		}
		told := map[string]bool{}
		for _, ev := range evs {
			told[ev.InvolvedObject.Name] = true
		}
		var untold []string
		for _, p := range pods {
			if !told[p] {
				untold = append(untold, p)
			}
		}
		rotationFailed, _, err := env.eventCount(ctx, "MountRotationFailed", "throttled")
		if err != nil {
			return err
		}
		after, _, err := k.PodMetrics(ctx, "kube-system", "app="+app, port)
		if err != nil {
			return err
		}
		throttledRequests := 0.0
		for s, n := range after {
			if strings.HasPrefix(s, "keyvault_request_count{") && strings.Contains(s, `error="throttled"`) {
				throttledRequests += n - before[s]
			}
		}
		env.Figure("pods Running", len(pods))
		env.Figure("FailedMount events saying throttled", throttledEvents)
		env.Figure("MountRotationFailed events saying throttled", rotationFailed)
		env.Figure("keyvault_request_count{error=throttled}", throttledRequests)
		env.Figure("mounts checked", checks)
		env.Figure("content lost", 0)
		if applied == 0 {
			return errorf("the emulator answered no request with 429: the storm did not happen")
		}
		if len(untold) > 0 {
			return errorf("%d of the %d pods mounted during the storm have no FailedMount event saying throttled (%s): kubectl describe pod does not tell the user Key Vault throttled", len(untold), len(pods), strings.Join(untold, ", "))
		}
		if throttledRequests == 0 {
			return errorf("the provider's keyvault_request_count has no error=\"throttled\" series after the storm")
		}
		return nil
	},
}
