package scenarios

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"

	"software.sslmate.com/src/go-pkcs12"
)

// certificateObjects proves the table of "Obtain certificates and keys":
// key → the public key in PEM; cert → the certificate in PEM without the
// chain; secret → the private key and the whole chain in PEM.
var certificateObjects = Scenario{
	Name:    "certificates/object-types",
	Section: "Obtain certificates and keys",
	Summary: "one certificate as key (public key PEM), cert (leaf PEM, no chain) and secret (private key + whole chain, leaf→root)",
	Code:    []string{"provider/render.PFXToPEM"},
	Run: func(ctx context.Context, env *Env) error {
		ch, err := newChain("kvcsi-certificates")
		if err != nil {
			return err
		}
		if _, err := env.Target.Vault().ImportCertificate(ctx, "chained", ch.PFX, ch.Password); err != nil {
			return err
		}
		yaml := userMSIClass("azure-cert-table", objects(
			object("objectName", "chained", "objectType", "key", "objectAlias", "as-key"),
			object("objectName", "chained", "objectType", "cert", "objectAlias", "as-cert"),
			object("objectName", "chained", "objectType", "secret", "objectAlias", "as-secret"),
		), "") + "---" + busyboxPod("certs", "azure-cert-table")
		if err := env.startPod(ctx, "certs", yaml); err != nil {
			return err
		}
		key, err := env.cat(ctx, "certs", "/mnt/secrets-store/as-key")
		if err != nil {
			return err
		}
		if err := expectPEM(key, "PUBLIC KEY"); err != nil {
			return errorf("objectType key: %v", err)
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(&ch.Key.PublicKey)
		if b, _ := pem.Decode([]byte(key)); !bytes.Equal(b.Bytes, pubDER) {
			return errorf("objectType key: the public key is not the certificate's")
		}
		cert, err := env.cat(ctx, "certs", "/mnt/secrets-store/as-cert")
		if err != nil {
			return err
		}
		if err := expectPEM(cert, "CERTIFICATE"); err != nil {
			return errorf("objectType cert: %v", err)
		}
		if b, _ := pem.Decode([]byte(cert)); !bytes.Equal(b.Bytes, ch.Leaf.Raw) {
			return errorf("objectType cert: the certificate is not the leaf")
		}
		secret, err := env.cat(ctx, "certs", "/mnt/secrets-store/as-secret")
		if err != nil {
			return err
		}
		if err := expectPEM(secret, "PRIVATE KEY", "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"); err != nil {
			return errorf("objectType secret: %v", err)
		}
		return expectChainOrder(secret, ch)
	},
}

// expectChainOrder checks the certificates of a PEM bundle are leaf,
// intermediate, root.
func expectChainOrder(bundle string, ch *chain) error {
	want := [][]byte{ch.Leaf.Raw, ch.Intermediate.Raw, ch.Root.Raw}
	rest := []byte(bundle)
	i := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if i >= len(want) || !bytes.Equal(b.Bytes, want[i]) {
			return errorf("certificate %d of the bundle is not the expected leaf → root order", i)
		}
		i++
	}
	return nil
}

// certificatePFX proves objectFormat pfx: with objectEncoding base64 the mounted
// file is the binary PKCS#12, holding the key and the whole chain.
var certificatePFX = Scenario{
	Name:    "certificates/pfx",
	Section: "Obtain certificates and keys",
	Summary: "objectFormat pfx with objectEncoding base64 mounts the binary PKCS#12 with key and chain",
	Code:    []string{"provider/render.RenderSecret"},
	Run: func(ctx context.Context, env *Env) error {
		ch, err := newChain("kvcsi-pfx")
		if err != nil {
			return err
		}
		if _, err := env.Target.Vault().ImportCertificate(ctx, "pfxcert", ch.PFX, ch.Password); err != nil {
			return err
		}
		yaml := userMSIClass("azure-pfx", objects(
			object("objectName", "pfxcert", "objectType", "secret", "objectFormat", "pfx", "objectEncoding", "base64", "objectAlias", "cert.pfx"),
		), "") + "---" + busyboxPod("pfx", "azure-pfx")
		if err := env.startPod(ctx, "pfx", yaml); err != nil {
			return err
		}
		raw, err := env.cat(ctx, "pfx", "/mnt/secrets-store/cert.pfx")
		if err != nil {
			return err
		}
		key, leaf, cas, err := pkcs12.DecodeChain([]byte(raw), "")
		if err != nil {
			return errorf("the mounted file is not a PKCS#12 without password: %v", err)
		}
		if key == nil || !bytes.Equal(leaf.Raw, ch.Leaf.Raw) || len(cas) != 2 {
			return errorf("the PKCS#12 holds leaf %v and %d CA certificates, want the imported leaf and 2", leaf.Subject, len(cas))
		}
		return nil
	},
}
