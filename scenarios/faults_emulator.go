package scenarios

import (
	"bytes"
	"context"
)

var faultsEmulatorRestart = Scenario{
	Name:    "faults/emulator-restart-persists",
	Section: "Troubleshooting",
	Summary: "the Key Vault emulator is restarted with its state directory: its whole state (every version, soft-deleted object, identity and access policy) is the same after, mounted pods keep their content, a pod pinned to an older version mounts it, and a new version still rotates",
	Code:    []string{"kvemulator.Start", "kvemulator.Config"},
	Run: func(ctx context.Context, env *Env) error {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		v := env.Target.Vault()
		older := uniqueValue("emu-older")
		olderVersion, err := v.SetSecret(ctx, "emu1", older)
		if err != nil {
			return err
		}
		latest := uniqueValue("emu-latest")
		if _, err := v.SetSecret(ctx, "emu1", latest); err != nil {
			return err
		}
		class := userMSIClass("emu", objects(
			object("objectName", "emu1", "objectType", "secret"),
			object("objectName", "emu1", "objectType", "secret", "objectVersion", olderVersion, "objectAlias", "emu1-older")), "")
		if err := env.startPod(ctx, "held", class+"---"+busyboxPod("held", "emu")); err != nil {
			return err
		}
		before, err := ft.VaultState()
		if err != nil {
			return err
		}
		if err := ft.RestartEmulator(ctx); err != nil {
			return err
		}
		env.Figure("emulator restarts", 1)
		after, err := ft.VaultState()
		if err != nil {
			return err
		}
		if !bytes.Equal(before, after) {
			return errorf("the emulator's state changed across the restart (%d bytes before, %d after): versions, soft-deleted objects or access policies were lost", len(before), len(after))
		}
		env.Figure("state bytes compared", len(before))
		checks := 0
		for _, f := range []struct{ path, want string }{{"/mnt/secrets-store/emu1", latest}, {"/mnt/secrets-store/emu1-older", older}} {
			if err := env.expectFile(ctx, "held", f.path, f.want); err != nil {
				return errorf("after the emulator restart: %v", err)
			}
			checks++
		}
		if err := env.startPod(ctx, "after", busyboxPod("after", "emu")); err != nil {
			return errorf("a pod mounting after the emulator restart: %v", err)
		}
		if err := env.expectFile(ctx, "after", "/mnt/secrets-store/emu1-older", older); err != nil {
			return errorf("the older version after the emulator restart: %v", err)
		}
		next := uniqueValue("emu-next")
		if _, err := v.SetSecret(ctx, "emu1", next); err != nil {
			return err
		}
		for _, p := range []string{"held", "after"} {
			if err := env.waitFile(ctx, p, "/mnt/secrets-store/emu1", next, rotationWait()); err != nil {
				return errorf("rotation after the emulator restart, pod %s: %v", p, err)
			}
			checks++
		}
		env.Figure("mounts checked", checks+1)
		env.Figure("content lost", 0)
		return nil
	},
}
