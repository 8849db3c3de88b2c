package scenarios

import (
	"bytes"
	"context"
	"encoding/pem"
	"time"
)

// compatScenarios is this file's group of the catalogue (see catalogue.go).
var compatScenarios = []Scenario{compatLenientClasses}

// compatLenientClasses proves docs/compatibility.md's principle on a real
// node: a SecretProviderClass that upstream mounts (two objects writing one
// file, objectFormat PFX on a cert, objectVersionHistory -1) mounts with the
// files upstream gives, and the pod gets one SecretProviderClassWarning
// Warning event per lenient setting.
var compatLenientClasses = Scenario{
	Name:    "compat/lenient-classes",
	Section: "Features",
	Summary: "a class with a duplicate alias, objectFormat PFX on a cert and objectVersionHistory -1 mounts the files upstream gives, with SecretProviderClassWarning events",
	Code:    []string{"provider/params.ParseObjects", "provider/server.Server.Mount", "driver/csiplugin.Server.warn"},
	Run: func(ctx context.Context, env *Env) error {
		v := env.Target.Vault()
		first, second := uniqueValue("compat-first"), uniqueValue("compat-second")
		if _, err := v.SetSecret(ctx, "CompatFirst", first); err != nil {
			return err
		}
		if _, err := v.SetSecret(ctx, "CompatSecond", second); err != nil {
			return err
		}
		older, newer := uniqueValue("compat-older"), uniqueValue("compat-newer")
		for _, val := range []string{older, newer} {
			if _, err := v.SetSecret(ctx, "CompatHistory", val); err != nil {
				return err
			}
		}
		ch, err := newChain("kvcsi-compat")
		if err != nil {
			return err
		}
		if _, err := v.ImportCertificate(ctx, "CompatCert", ch.PFX, ch.Password); err != nil {
			return err
		}
		yaml := userMSIClass("azure-compat", objects(
			object("objectName", "CompatFirst", "objectType", "secret", "objectAlias", "shared"),
			object("objectName", "CompatSecond", "objectType", "secret", "objectAlias", "shared"),
			object("objectName", "CompatCert", "objectType", "cert", "objectFormat", "PFX", "objectAlias", "cert.pem"),
			object("objectName", "CompatHistory", "objectType", "secret", "objectVersionHistory", "-1"),
		), "") + "---" + busyboxPod("compat", "azure-compat")
		if err := env.startPod(ctx, "compat", yaml); err != nil {
			return err
		}
		// Upstream's files: the last of two objects writing one file wins;
		// the format is ignored on a cert (its PEM); -1 is one version.
		if err := env.expectFile(ctx, "compat", "/mnt/secrets-store/shared", second); err != nil {
			return errorf("duplicate alias: %v", err)
		}
		cert, err := env.cat(ctx, "compat", "/mnt/secrets-store/cert.pem")
		if err != nil {
			return err
		}
		if b, rest := pem.Decode([]byte(cert)); b == nil || b.Type != "CERTIFICATE" || !bytes.Equal(b.Bytes, ch.Leaf.Raw) || len(bytes.TrimSpace(rest)) != 0 {
			return errorf("objectFormat PFX on a cert: cert.pem is not the leaf certificate's PEM alone")
		}
		if err := env.expectFile(ctx, "compat", "/mnt/secrets-store/CompatHistory", newer); err != nil {
			return errorf("objectVersionHistory -1: %v", err)
		}
		names, err := env.ls(ctx, "compat", "/mnt/secrets-store")
		if err != nil {
			return err
		}
		if len(names) != 3 {
			return errorf("the mount holds %v, want shared, cert.pem and CompatHistory", names)
		}
		// One Warning event per lenient setting, naming the field.
		k := env.Target.Kube()
		for _, field := range []string{"objectAlias", "objectFormat", "objectVersionHistory"} {
			ev, err := k.WaitEvent(ctx, env.Namespace, "compat", "SecretProviderClassWarning", field, time.Minute)
			if err != nil {
				return err
			}
			if ev.Type != "Warning" {
				return errorf("the %s event is of type %s, want Warning", field, ev.Type)
			}
			env.Logf("event: %s", ev.Message)
		}
		return nil
	},
}
