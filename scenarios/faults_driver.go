package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

var faultsDriverRestart = Scenario{
	Name:    "faults/driver-restart-keeps-mounts",
	Section: "Enable and disable autorotation",
	Summary: "20 pods mounted; the driver pod is deleted, then rolled by addon update with a new --rotation-poll-interval: every mount stays readable throughout, a new version reaches every pod after, and deleting the pods unpublishes what the previous driver published (no tmpfs, SecretProviderClassPodStatus or synced Secret left)",
	Code:    []string{"driver/csiplugin.Server.NodeUnpublishVolume", "driver/rotation.Rotator.ReconcileAll", "addon.Manager.Update"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		first := uniqueValue("drv")
		if _, err := env.Target.Vault().SetSecret(ctx, "drv1", first); err != nil {
			return err
		}
		class := userMSIClass("drv", objects(object("objectName", "drv1", "objectType", "secret")), secretObjectsYAML("drvsecret", "drv1", "value"))
		if err := env.apply(ctx, class); err != nil {
			return err
		}
		pods, err := env.startFaultPods(ctx, "held", "drv", 20) // the 20 pods
		if err != nil {
			return err
		}
		if err := env.waitPodsReady(ctx, pods, podReadyTimeout); err != nil {
			return err
		}
		dirs := map[string]string{}
		for _, p := range pods {
			if dirs[p], err = env.podVolumeDir(ctx, p); err != nil {
				return err
			}
		}
		checks := 0
		readAll := func(when string, values ...string) error {
			for p, d := range dirs {
				if err := nodeFileOneOf(ft, filepath.Join(d, "drv1"), values...); err != nil {
					return errorf("%s, pod %s: %v", when, p, err)
				}
				checks++
			}
			return nil
		}
		// Until the driver is ready again, read every mount each second.
		readUntilReady := func(when, arg string) error {
			done := make(chan error, 1)
			go func() { done <- waitAddonPods(ctx, k, arg) }()
			for {
				if err := readAll(when, first); err != nil {
					return err
				}
				select {
				case err := <-done:
					return err
				case <-time.After(time.Second):
				}
			}
		}
		drv, err := addonPod(ctx, k, "secrets-store-csi-driver")
		if err != nil {
			return err
		}
		if err := k.Clientset.CoreV1().Pods("kube-system").Delete(ctx, drv.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		if err := readUntilReady("with the driver pod deleted", ""); err != nil {
			return err
		}
		// A rollout: a new flag value, then back to the run's interval.
		rolled := (RotationPollInterval - time.Second).String()
		short := RotationPollInterval.String()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: rolled}); err != nil {
			return err
		}
		defer func() {
			rctx := context.WithoutCancel(ctx)
			rerr := env.Target.Addon(rctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: short})
			if rerr == nil {
				rerr = waitAddonPods(rctx, k, "--rotation-poll-interval="+short)
			}
			if rerr != nil && err == nil {
				err = errorf("restore the poll interval: %v", rerr)
			}
		}()
		if err := readUntilReady("during the rollout", "--rotation-poll-interval="+rolled); err != nil {
			return err
		}
		env.Figure("driver restarts", 2)
		next := uniqueValue("drv-next")
		if _, err := env.Target.Vault().SetSecret(ctx, "drv1", next); err != nil {
			return err
		}
		for _, p := range pods {
			if err := env.waitFile(ctx, p, "/mnt/secrets-store/drv1", next, rotationWait()); err != nil {
				return errorf("rotation after the driver restarts, pod %s: %v", p, err)
			}
			checks++
		}
		if err := waitSecretData(ctx, env, "drvsecret", "value", next, rotationWait()); err != nil {
			return errorf("synced Secret after the driver restarts: %v", err)
		}
		// Unpublish what the previous driver instances published.
		zero := int64(0)
		if err := k.Clientset.CoreV1().Pods(env.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
			return err
		}
		left := 0
		if err := k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			var what []string
			for p, d := range dirs {
				n, err := mountCount(ft, d)
				if err != nil {
					return false, err
				}
				if n > 0 {
					what = append(what, "tmpfs of "+p)
				}
			}
			st, err := k.Dynamic.Resource(ssv1.SecretProviderClassPodStatusesResource).Namespace(env.Namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			if n := len(st.Items); n > 0 {
				what = append(what, fmt.Sprintf("%d SecretProviderClassPodStatus", n))
			}
			if _, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "drvsecret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				what = append(what, "Secret drvsecret")
			}
			left = len(what)
			if left > 0 {
				return false, errorf("left after the pods were deleted: %s", strings.Join(what, ", "))
			}
			return true, nil
		}); err != nil {
			return err
		}
		env.Figure("pods", len(pods))
		env.Figure("mounts checked", checks)
		env.Figure("content lost", 0)
		env.Figure("left behind", left)
		return nil
	},
}
