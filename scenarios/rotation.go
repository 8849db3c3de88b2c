package scenarios

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rotationPodYAML mounts azure-sync twice: the whole volume, and foo1 alone
// through subPath, which the documentation's Limitations say is not updated.
const rotationPodYAML = `
kind: Pod
apiVersion: v1
metadata:
  name: rotating
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command: ["/bin/sleep", "10000"]
      volumeMounts:
      - name: secrets-store01-inline
        mountPath: "/mnt/secrets-store"
        readOnly: true
      - name: secrets-store01-inline
        mountPath: "/mnt/subpath/foo1"
        subPath: foo1
        readOnly: true
  volumes:
    - name: secrets-store01-inline
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: "azure-sync"
`

// startRotating mounts azure-sync with the value first and returns the pod name.
func startRotating(ctx context.Context, env *Env, first string) error {
	if _, err := env.Target.Vault().SetSecret(ctx, "foo1", first); err != nil {
		return err
	}
	return env.startPod(ctx, "rotating", azureSyncYAML+"---"+rotationPodYAML)
}

// waitSecretData waits until a synced Secret's key holds want.
func waitSecretData(ctx context.Context, env *Env, name, key, want string, timeout time.Duration) error {
	k := env.Target.Kube()
	return k.Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		s, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if string(s.Data[key]) != want {
			return false, errorf("Secret %s key %s still holds %d bytes that differ from the expected %d", name, key, len(s.Data[key]), len(want))
		}
		return true, nil
	})
}

// rotationAuto proves "Enable and disable autorotation": a new version in the
// vault reaches the pod mount and the synced Secret by polling, while the
// subPath mount keeps the old value (the documented limitation).
var rotationAuto = Scenario{
	Name:    "rotation/autorotation",
	Section: "Enable and disable autorotation",
	Summary: "a new secret version reaches the mounted file and the synced Secret within a few poll intervals",
	Code:    []string{"driver/rotation.Rotator.ReconcileAll"},
	Run: func(ctx context.Context, env *Env) error {
		if err := startRotating(ctx, env, uniqueValue("before")); err != nil {
			return err
		}
		after := uniqueValue("after")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", after); err != nil {
			return err
		}
		if err := env.waitFile(ctx, "rotating", "/mnt/secrets-store/foo1", after, rotationWait()); err != nil {
			return errorf("mount not rotated: %v", err)
		}
		if err := waitSecretData(ctx, env, "foosecret", "username", after, rotationWait()); err != nil {
			return errorf("synced Secret not rotated: %v", err)
		}
		return nil
	},
}

// rotationSubPath proves the Limitations section: a container using a subPath
// volume mount does not receive the rotated value.
var rotationSubPath = Scenario{
	Name:    "rotation/subpath-not-updated",
	Section: "Limitations",
	Summary: "after rotation the volume shows the new value but the subPath mount keeps the old one",
	Code:    []string{"driver/atomicwriter.Write"},
	Run: func(ctx context.Context, env *Env) error {
		before := uniqueValue("before")
		if err := startRotating(ctx, env, before); err != nil {
			return err
		}
		if err := env.expectFile(ctx, "rotating", "/mnt/subpath/foo1", before); err != nil {
			return err
		}
		after := uniqueValue("after")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", after); err != nil {
			return err
		}
		if err := env.waitFile(ctx, "rotating", "/mnt/secrets-store/foo1", after, rotationWait()); err != nil {
			return errorf("volume not rotated: %v", err)
		}
		return env.expectFile(ctx, "rotating", "/mnt/subpath/foo1", before)
	},
}

// rotationCustomInterval proves "Specify a custom rotation interval": with the
// documented 5m interval a change is not picked up within several short
// intervals; back at the short interval it is.
var rotationCustomInterval = Scenario{
	Name:    "rotation/custom-interval",
	Section: "Specify a custom rotation interval",
	Summary: "at --rotation-poll-interval 5m a change waits; back at the short interval it rotates",
	Code:    []string{"addon.Manager.Update", "driver/rotation.Rotator.ReconcileAll"},
	Run: func(ctx context.Context, env *Env) error {
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: "5m"}); err != nil {
			return err
		}
		k := env.Target.Kube()
		if err := waitAddonPods(ctx, k, "--rotation-poll-interval=5m"); err != nil {
			return err
		}
		before := uniqueValue("before")
		if err := startRotating(ctx, env, before); err != nil {
			return err
		}
		after := uniqueValue("after")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", after); err != nil {
			return err
		}
		time.Sleep(notRotatedWait())
		if err := env.expectFile(ctx, "rotating", "/mnt/secrets-store/foo1", before); err != nil {
			return errorf("rotated before the 5m interval passed: %v", err)
		}
		short := RotationPollInterval.String()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: short}); err != nil {
			return err
		}
		if err := waitAddonPods(ctx, k, "--rotation-poll-interval="+short); err != nil {
			return err
		}
		return env.waitFile(ctx, "rotating", "/mnt/secrets-store/foo1", after, rotationWait())
	},
}

// rotationDisabled proves "Disable autorotation": the documented way (disable
// the add-on, re-enable it without --enable-secret-rotation) stops updates.
var rotationDisabled = Scenario{
	Name:    "rotation/disabled",
	Section: "Disable autorotation",
	Summary: "re-enabled without --enable-secret-rotation, a new version never reaches the mount",
	Code:    []string{"addon.Manager.Disable", "addon.Manager.Enable"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "disable"}); err != nil {
			return err
		}
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "enable"}); err != nil {
			return err
		}
		if err := waitAddonPods(ctx, k, "--enable-secret-rotation=false"); err != nil {
			return err
		}
		before := uniqueValue("before")
		if err := startRotating(ctx, env, before); err != nil {
			return err
		}
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", uniqueValue("after")); err != nil {
			return err
		}
		time.Sleep(notRotatedWait())
		if err := env.expectFile(ctx, "rotating", "/mnt/secrets-store/foo1", before); err != nil {
			return errorf("rotated although rotation is disabled: %v", err)
		}
		// Restore the add-on with rotation for the scenarios that follow; disable
		// refuses while this scenario's SecretProviderClass exists.
		if err := k.Delete(ctx, env.Namespace, azureSyncYAML+"---"+rotationPodYAML); err != nil {
			return err
		}
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "disable"}); err != nil {
			return err
		}
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "enable", Rotation: true, PollInterval: RotationPollInterval.String()}); err != nil {
			return err
		}
		return waitAddonPods(ctx, k, "")
	},
}
