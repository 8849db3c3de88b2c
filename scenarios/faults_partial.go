package scenarios

import (
	"context"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/refresh"
)

var faultsPartialFailure = Scenario{
	Name:    "faults/partial-provider-failure",
	Section: "Enable and disable autorotation",
	Summary: "a rotation where one of five objects fails with 403 (its new version disabled in Key Vault; the emulator's access policies cannot change mid-run without a re-seed) keeps the volume's previous five files, a Warning event names the object, and the next successful rotation updates all five together",
	Code:    []string{"driver/rotation.Rotator.refreshDue", "driver/atomicwriter.Write", "provider/keyvault.Classify"},
	Run: func(ctx context.Context, env *Env) error {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		const failing = "part3"
		var objs []string
		names := []string{"part1", "part2", failing, "part4", "part5"}
		old := map[string]string{}
		for _, n := range names {
			old[n] = uniqueValue(n + "-old")
			if _, err := v.SetSecret(ctx, n, old[n]); err != nil {
				return err
			}
			objs = append(objs, object("objectName", n, "objectType", "secret"))
		}
		if err := env.startPod(ctx, "five", userMSIClass("part", objects(objs...), "")+"---"+busyboxPod("five", "part")); err != nil {
			return err
		}
		checks := 0
		expectAll := func(when string, want map[string]string) error {
			for _, n := range names {
				if err := env.expectFile(ctx, "five", "/mnt/secrets-store/"+n, want[n]); err != nil {
					return errorf("%s: %v", when, err)
				}
				checks++
			}
			return nil
		}
		// The failing object's new version first, disabled from its
		// creation, so no rotation ever sees a set the vault did not hold.
		next := map[string]string{}
		next[failing] = uniqueValue(failing + "-new")
		version, err := ft.SetSecretDisabled(ctx, failing, next[failing])
		if err != nil {
			return err
		}
		for _, n := range names {
			if n == failing {
				continue
			}
			next[n] = uniqueValue(n + "-new")
			if _, err := v.SetSecret(ctx, n, next[n]); err != nil {
				return err
			}
		}
		value, err := refresh.Pod(ctx, k.Clientset, env.Namespace, "five", time.Now())
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, refreshWait)
		werr := refresh.Wait(wctx, k.Clientset, env.Namespace, []string{"five"}, value)
		cancel()
		if werr == nil {
			return errorf("the rotation with %s failing (403) was reported complete", failing)
		}
		if !strings.Contains(werr.Error(), failing) {
			return errorf("the failed rotation's Warning event does not name %s: %v", failing, werr)
		}
		env.Figure("403s injected", 1)
		if err := expectAll("after the failed rotation", old); err != nil {
			return err
		}
		if err := ft.SetSecretEnabled(ctx, failing, version, true); err != nil {
			return err
		}
		if value, err = refresh.Pod(ctx, k.Clientset, env.Namespace, "five", time.Now()); err != nil {
			return err
		}
		wctx, cancel = context.WithTimeout(ctx, refreshWait)
		werr = refresh.Wait(wctx, k.Clientset, env.Namespace, []string{"five"}, value)
		cancel()
		if werr != nil {
			return errorf("the rotation after %s was enabled again: %v", failing, werr)
		}
		if err := expectAll("after the successful rotation", next); err != nil {
			return err
		}
		env.Figure("objects", len(names))
		env.Figure("files checked", checks)
		env.Figure("content lost", 0)
		return nil
	},
}
