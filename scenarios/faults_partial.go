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
	Summary: "a rotation where one of five objects fails with 403 (an access-policy change takes get on keys away from the pod's identity; the other four are secrets) keeps the volume's previous five files, a Warning event names the object, and the next rotation after the policy is restored updates all five together",
	Code:    []string{"driver/rotation.Rotator.refreshDue", "driver/atomicwriter.Write", "provider/keyvault.Classify", "kvemulator.AdminClient.SetAccessPolicy"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		// part3 is a key: Key Vault access policies grant per object kind,
		// so taking get on keys away fails that one object of the five.
		const failing = "part3"
		names := []string{"part1", "part2", failing, "part4", "part5"}
		var objs []string
		old := map[string]string{}
		for _, n := range names {
			if n == failing {
				if _, err := v.CreateKey(ctx, n); err != nil {
					return err
				}
				objs = append(objs, object("objectName", n, "objectType", "key"))
				continue
			}
			old[n] = uniqueValue(n + "-old")
			if _, err := v.SetSecret(ctx, n, old[n]); err != nil {
				return err
			}
			objs = append(objs, object("objectName", n, "objectType", "secret"))
		}
		if err := env.startPod(ctx, "five", userMSIClass("part", objects(objs...), "")+"---"+busyboxPod("five", "part")); err != nil {
			return err
		}
		keyFile := "/mnt/secrets-store/" + failing
		if old[failing], err = env.cat(ctx, "five", keyFile); err != nil {
			return err
		}
		if err := expectPEM(old[failing], "PUBLIC KEY"); err != nil {
			return errorf("%s before the rotation: %v", failing, err)
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
		// The policy change first, then the new versions: no rotation ever
		// sees the new set while the key can still be read.
		previous, err := ft.SetVaultAccess(ctx, IdentityAddon, "keys", []string{"list"})
		if err != nil {
			return err
		}
		restored := false
		defer func() {
			if !restored {
				if _, rerr := ft.SetVaultAccess(ctx, IdentityAddon, "keys", previous); rerr != nil && err == nil {
					err = rerr
				}
			}
		}()
		next := map[string]string{}
		for _, n := range names {
			if n == failing {
				if _, err := v.CreateKey(ctx, n); err != nil {
					return err
				}
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
			return errorf("the rotation with %s forbidden (403 after the access-policy change) was reported complete", failing)
		}
		if !strings.Contains(werr.Error(), failing) || !strings.Contains(werr.Error(), "403") {
			return errorf("the failed rotation's Warning event does not name %s and its 403: %v", failing, werr)
		}
		env.Figure("403s injected (access-policy change)", 1)
		if err := expectAll("after the failed rotation", old); err != nil {
			return err
		}
		if _, err := ft.SetVaultAccess(ctx, IdentityAddon, "keys", previous); err != nil {
			return err
		}
		restored = true
		if value, err = refresh.Pod(ctx, k.Clientset, env.Namespace, "five", time.Now()); err != nil {
			return err
		}
		wctx, cancel = context.WithTimeout(ctx, refreshWait)
		werr = refresh.Wait(wctx, k.Clientset, env.Namespace, []string{"five"}, value)
		cancel()
		if werr != nil {
			return errorf("the rotation after the access policy was restored: %v", werr)
		}
		key, err := env.cat(ctx, "five", keyFile)
		if err != nil {
			return err
		}
		if err := expectPEM(key, "PUBLIC KEY"); err != nil || key == old[failing] {
			return errorf("after the successful rotation, %s is not the new key version (PEM: %v, unchanged: %v)", failing, err, key == old[failing])
		}
		next[failing] = key
		if err := expectAll("after the successful rotation", next); err != nil {
			return err
		}
		env.Figure("objects", len(names))
		env.Figure("files checked", checks)
		env.Figure("content lost", 0)
		return nil
	},
}
