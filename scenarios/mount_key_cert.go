package scenarios

import (
	"context"
	"encoding/pem"
)

// mountKeyCert proves the Features bullet "Mounts secrets, keys, and
// certificates to a pod by using a CSI volume": a key and a certificate are
// mounted next to a secret.
var mountKeyCert = Scenario{
	Name:    "mount/key-and-cert",
	Section: "Features",
	Summary: "a key and a certificate mount as PEM files next to a secret",
	Code:    []string{"provider/render.RenderKey", "provider/render.RenderCert"},
	Run: func(ctx context.Context, env *Env) error {
		v := env.Target.Vault()
		if _, err := v.SetSecret(ctx, "ExampleSecret", "MyAKSExampleSecret"); err != nil {
			return err
		}
		if _, err := v.CreateKey(ctx, "ExampleKey"); err != nil {
			return err
		}
		chain, err := newChain("kvcsi-mount-key-and-cert")
		if err != nil {
			return err
		}
		if _, err := v.ImportCertificate(ctx, "ExampleCert", chain.PFX, chain.Password); err != nil {
			return err
		}
		class := userMSIClass("azure-key-cert", objects(
			object("objectName", "ExampleSecret", "objectType", "secret"),
			object("objectName", "ExampleKey", "objectType", "key"),
			object("objectName", "ExampleCert", "objectType", "cert"),
		), "")
		if err := env.startPod(ctx, "busybox-secrets-store-inline", class+"---"+busyboxPod("busybox-secrets-store-inline", "azure-key-cert")); err != nil {
			return err
		}
		key, err := env.cat(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/ExampleKey")
		if err != nil {
			return err
		}
		if err := expectPEM(key, "PUBLIC KEY"); err != nil {
			return errorf("ExampleKey: %v", err)
		}
		cert, err := env.cat(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/ExampleCert")
		if err != nil {
			return err
		}
		if err := expectPEM(cert, "CERTIFICATE"); err != nil {
			return errorf("ExampleCert: %v", err)
		}
		return env.expectFile(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/ExampleSecret", "MyAKSExampleSecret")
	},
}

// pemTypes lists the block types of a PEM file in order.
func pemTypes(s string) []string {
	var types []string
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return types
		}
		types = append(types, b.Type)
	}
}

// expectPEM checks that s is exactly the given PEM block types, in order.
func expectPEM(s string, want ...string) error {
	got := pemTypes(s)
	if len(got) != len(want) {
		return errorf("PEM blocks %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			return errorf("PEM blocks %v, want %v", got, want)
		}
	}
	return nil
}
