package scenarios

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvcsi/kvcsi/refresh"
)

// rotationScenarios is this file's group of the catalogue (see catalogue.go):
// refresh on demand, and class edits reaching running pods.
var rotationScenarios = []Scenario{
	rotationOnDemandRefresh,
	rotationClassEditAdds,
	rotationClassEditRemoves,
	syncClassEditChangesKeys,
}

// refreshWait bounds how long a refresh on demand may take to be answered:
// the driver checks the annotations every second; this is the patience of
// the wait, far below the 5m poll interval the scenario sets.
const refreshWait = time.Minute

// syncClass is azure-sync (the class rotationPodYAML mounts) with the given
// objects and secretObjects.
func syncClass(objs, secretObjects string) string {
	return userMSIClass("azure-sync", objs, secretObjects)
}

func secretObjectsYAML(secret string, keys ...string) string {
	s := "  secretObjects:\n  - secretName: " + secret + "\n    type: Opaque\n    data:\n"
	for i := 0; i+1 < len(keys); i += 2 {
		s += "    - objectName: " + keys[i] + "\n      key: " + keys[i+1] + "\n"
	}
	return s
}

var rotationOnDemandRefresh = Scenario{
	Name:    "rotation/on-demand-refresh",
	Section: "Enable and disable autorotation",
	Summary: "at --rotation-poll-interval 5m, kvcsi refresh class (then pod) brings a new version to the mount and the synced Secret within seconds",
	Code:    []string{"refresh.Class", "refresh.Pod", "driver/rotation.Rotator.refreshDue"},
	Run: func(ctx context.Context, env *Env) (err error) {
		k := env.Target.Kube()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: "5m"}); err != nil {
			return err
		}
		defer func() {
			rctx := context.WithoutCancel(ctx)
			short := RotationPollInterval.String()
			rerr := env.Target.Addon(rctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: short})
			if rerr == nil {
				rerr = waitAddonPods(rctx, k, "--rotation-poll-interval="+short)
			}
			if rerr != nil && err == nil {
				err = errorf("restore the poll interval: %v", rerr)
			}
		}()
		if err := waitAddonPods(ctx, k, "--rotation-poll-interval=5m"); err != nil {
			return err
		}
		if err := startRotating(ctx, env, uniqueValue("before")); err != nil {
			return err
		}
		// The class: every pod using it.
		after := uniqueValue("after")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", after); err != nil {
			return err
		}
		value, err := refresh.Class(ctx, k.Dynamic, env.Namespace, "azure-sync", time.Now())
		if err != nil {
			return err
		}
		if err := waitRefreshed(ctx, env, value); err != nil {
			return err
		}
		if err := env.expectFile(ctx, "rotating", "/mnt/secrets-store/foo1", after); err != nil {
			return errorf("refreshed, but the mount does not hold the new version: %v", err)
		}
		if err := waitSecretData(ctx, env, "foosecret", "username", after, refreshWait); err != nil {
			return errorf("synced Secret not refreshed: %v", err)
		}
		// The pod alone.
		again := uniqueValue("again")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", again); err != nil {
			return err
		}
		if value, err = refresh.Pod(ctx, k.Clientset, env.Namespace, "rotating", time.Now()); err != nil {
			return err
		}
		if err := waitRefreshed(ctx, env, value); err != nil {
			return err
		}
		return env.expectFile(ctx, "rotating", "/mnt/secrets-store/foo1", again)
	},
}

// waitRefreshed waits for the driver's MountRotationComplete answering the
// refresh request value on pod "rotating".
func waitRefreshed(ctx context.Context, env *Env, value string) error {
	wctx, cancel := context.WithTimeout(ctx, refreshWait)
	defer cancel()
	if err := refresh.Wait(wctx, env.Target.Kube().Clientset, env.Namespace, []string{"rotating"}, value); err != nil {
		evs, _ := env.Target.Kube().Events(ctx, env.Namespace, "rotating")
		return errorf("refresh %s not answered: %v; events: %s", value, err, FormatEvents(evs))
	}
	return nil
}

var rotationClassEditAdds = Scenario{
	Name:    "rotation/class-edit-adds-object",
	Section: "Enable and disable autorotation",
	Summary: "an object added to a running pod's SecretProviderClass appears as a file at the next rotation",
	Code:    []string{"driver/rotation.Rotator.ReconcileAll"},
	Run: func(ctx context.Context, env *Env) error {
		if err := startRotating(ctx, env, uniqueValue("foo1")); err != nil {
			return err
		}
		foo2 := uniqueValue("foo2")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo2", foo2); err != nil {
			return err
		}
		edited := syncClass(objects(object("objectName", "foo1", "objectType", "secret"), object("objectName", "foo2", "objectType", "secret")),
			secretObjectsYAML("foosecret", "foo1", "username"))
		if err := env.apply(ctx, edited); err != nil {
			return err
		}
		return env.waitFile(ctx, "rotating", "/mnt/secrets-store/foo2", foo2, rotationWait())
	},
}

var rotationClassEditRemoves = Scenario{
	Name:    "rotation/class-edit-removes-object",
	Section: "Enable and disable autorotation",
	Summary: "an object removed from a running pod's SecretProviderClass disappears from the volume at the next rotation",
	Code:    []string{"driver/rotation.Rotator.ReconcileAll", "driver/atomicwriter.Write"},
	Run: func(ctx context.Context, env *Env) error {
		for _, name := range []string{"foo1", "foo2"} {
			if _, err := env.Target.Vault().SetSecret(ctx, name, uniqueValue(name)); err != nil {
				return err
			}
		}
		both := syncClass(objects(object("objectName", "foo1", "objectType", "secret"), object("objectName", "foo2", "objectType", "secret")),
			secretObjectsYAML("foosecret", "foo1", "username"))
		if err := env.startPod(ctx, "rotating", both+"---"+rotationPodYAML); err != nil {
			return err
		}
		if files, err := env.ls(ctx, "rotating", "/mnt/secrets-store"); err != nil || !slices.Contains(files, "foo2") {
			return errorf("foo2 not mounted before the edit: %v %v", files, err)
		}
		one := syncClass(objects(object("objectName", "foo1", "objectType", "secret")), secretObjectsYAML("foosecret", "foo1", "username"))
		if err := env.apply(ctx, one); err != nil {
			return err
		}
		return env.Target.Kube().Eventually(ctx, rotationWait(), func(ctx context.Context) (bool, error) {
			files, err := env.ls(ctx, "rotating", "/mnt/secrets-store")
			if err != nil {
				return false, err
			}
			if slices.Contains(files, "foo2") || !slices.Contains(files, "foo1") {
				return false, errorf("volume holds %v; want foo1 without foo2", files)
			}
			return true, nil
		})
	},
}

var syncClassEditChangesKeys = Scenario{
	Name:    "sync/class-edit-changes-keys",
	Section: "Sync mounted content with a Kubernetes secret",
	Summary: "changing secretObjects of a mounted class changes the synced Secret's keys at the next rotation (new key in, old key out)",
	Code:    []string{"driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) error {
		foo1 := uniqueValue("foo1")
		if err := startRotating(ctx, env, foo1); err != nil {
			return err
		}
		if err := waitSecretData(ctx, env, "foosecret", "username", foo1, time.Minute); err != nil {
			return err
		}
		edited := syncClass(objects(object("objectName", "foo1", "objectType", "secret")), secretObjectsYAML("foosecret", "foo1", "user"))
		if err := env.apply(ctx, edited); err != nil {
			return err
		}
		k := env.Target.Kube()
		return k.Eventually(ctx, rotationWait(), func(ctx context.Context) (bool, error) {
			s, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "foosecret", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, old := s.Data["username"]
			if string(s.Data["user"]) != foo1 || old {
				keys := make([]string, 0, len(s.Data))
				for key := range s.Data {
					keys = append(keys, key)
				}
				return false, errorf("foosecret has keys %v; want user (with foo1's value) and no username", keys)
			}
			return true, nil
		})
	},
}
