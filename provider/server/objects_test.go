package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/internal/testpki"
	"github.com/kvcsi/kvcsi/provider/render"
	"github.com/kvcsi/kvcsi/provider/server"
)

func pemBlocks(data []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		out = append(out, b)
	}
}

// newCertEnv seeds kv1 with keys and certificates: a chain imported as PFX
// in each of the six certificate orders, the same chain as PEM, and
// self-signed RSA and EC certificates.
var disabled = false

func newCertEnv(t *testing.T, cfg server.Config) (*env, *testpki.Chain) {
	t.Helper()
	seed, err := kvemulator.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	v := &seed.Vaults[0]
	v.Keys = append(v.Keys,
		kvemulator.KeySeed{Name: "rsa-key", Versions: []kvemulator.KeyVersionSeed{{Kty: "RSA", Size: 2048}}},
		kvemulator.KeySeed{Name: "ec-key", Versions: []kvemulator.KeyVersionSeed{{Kty: "EC", Curve: "P-384"}}},
		kvemulator.KeySeed{Name: "multi-key", Versions: []kvemulator.KeyVersionSeed{{Kty: "RSA", Size: 2048}, {Kty: "RSA", Size: 2048, Enabled: &disabled}, {Kty: "EC", Curve: "P-256"}}},
	)
	for i, order := range testpki.Permutations(chain.Leaf, chain.Intermediate, chain.Root) {
		pfx, err := chain.PFXBase64(order)
		if err != nil {
			t.Fatal(err)
		}
		v.Certificates = append(v.Certificates, kvemulator.CertificateSeed{Name: fmt.Sprintf("chain-pfx-%d", i),
			Versions: []kvemulator.CertificateVersionSeed{{PFX: pfx, ContentType: "application/x-pkcs12"}}})
		pemText, _ := chain.PEM(order)
		v.Certificates = append(v.Certificates, kvemulator.CertificateSeed{Name: fmt.Sprintf("chain-pem-%d", i),
			Versions: []kvemulator.CertificateVersionSeed{{PEM: pemText, ContentType: "application/x-pem-file"}}})
	}
	v.Certificates = append(v.Certificates,
		kvemulator.CertificateSeed{Name: "multi-cert", Versions: []kvemulator.CertificateVersionSeed{{Subject: "CN=one", Kty: "EC", Curve: "P-256"}, {Subject: "CN=two", Kty: "EC", Curve: "P-256"}}},
		kvemulator.CertificateSeed{Name: "self-rsa", Versions: []kvemulator.CertificateVersionSeed{{Subject: "CN=self-rsa", Kty: "RSA", Size: 2048}}},
		kvemulator.CertificateSeed{Name: "self-ec", Versions: []kvemulator.CertificateVersionSeed{{Subject: "CN=self-ec", Kty: "EC", Curve: "P-256", ContentType: "application/x-pem-file"}}},
	)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := kvemulator.Start(context.Background(), kvemulator.Config{Seed: seed, ServiceAccountIssuer: saIssuer, ServiceAccountKeys: []crypto.PublicKey{key.Public()}, DisableThrottling: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return newEnvWith(t, emu, key, cfg), chain
}

// TestCertificateTable is the AKS documentation's table: key → public key
// PEM; cert → the certificate PEM without chain; secret → private key and
// the whole chain leaf → root, for every input order of the chain.
func TestCertificateTable(t *testing.T) {
	e, chain := newCertEnv(t, server.Config{ConstructPEMChain: true, WriteCertAndKeyInSeparateFiles: true})
	leafPub, _ := x509.MarshalPKIXPublicKey(chain.Leaf.PublicKey)
	for i := 0; i < 6; i++ {
		for _, kind := range []string{"pfx", "pem"} {
			name := fmt.Sprintf("chain-%s-%d", kind, i)
			t.Run(name, func(t *testing.T) {
				r, err := e.mount(context.Background(), e.attrs(objs(
					"objectName: "+name+"; objectType: key; objectAlias: k",
					"objectName: "+name+"; objectType: cert; objectAlias: c",
					"objectName: "+name+"; objectType: secret; objectAlias: s",
				)), spSecrets(readerID, readerSecret))
				if err != nil {
					t.Fatal(err)
				}
				f := files(r)
				kb := pemBlocks([]byte(f["k"]))
				if len(kb) != 1 || kb[0].Type != "PUBLIC KEY" || !bytes.Equal(kb[0].Bytes, leafPub) {
					t.Errorf("key object is not the leaf's public key PEM: %q", f["k"])
				}
				cb := pemBlocks([]byte(f["c"]))
				if len(cb) != 1 || cb[0].Type != "CERTIFICATE" || !bytes.Equal(cb[0].Bytes, chain.Leaf.Raw) {
					t.Errorf("cert object is not the leaf alone: %d blocks", len(cb))
				}
				sb := pemBlocks([]byte(f["s"]))
				if len(sb) != 4 || sb[0].Type != "PRIVATE KEY" {
					t.Fatalf("secret object: want key + 3 certificates, got %d blocks", len(sb))
				}
				for j, want := range chain.Certs() {
					if kind == "pem" {
						// PEM is returned as Key Vault stores it (the
						// import keeps the uploaded order of the CAs).
						break
					}
					if !bytes.Equal(sb[j+1].Bytes, want.Raw) {
						t.Errorf("secret certificate %d is not %s", j, want.Subject.CommonName)
					}
				}
				if kind == "pem" {
					seen := map[string]bool{}
					for _, b := range sb[1:] {
						seen[string(b.Bytes)] = true
					}
					for _, want := range chain.Certs() {
						if !seen[string(want.Raw)] {
							t.Errorf("secret lacks %s", want.Subject.CommonName)
						}
					}
				}
				if kind == "pfx" {
					// separate files: .crt has the chain, .key the key
					if n := len(pemBlocks([]byte(f["s.crt"]))); n != 3 {
						t.Errorf("s.crt has %d certificates", n)
					}
					if kb := pemBlocks([]byte(f["s.key"])); len(kb) != 1 || kb[0].Type != "PRIVATE KEY" {
						t.Errorf("s.key is not the private key")
					}
				}
				for _, ov := range r.ObjectVersion {
					if len(ov.Version) != 32 {
						t.Errorf("object version %+v", ov)
					}
				}
			})
		}
	}
}

func TestKeysAndPFX(t *testing.T) {
	e, chain := newCertEnv(t, server.Config{ConstructPEMChain: true})
	r, err := e.mount(context.Background(), e.attrs(objs(
		"objectName: rsa-key; objectType: key",
		"objectName: ec-key; objectType: key",
		"objectName: self-rsa; objectType: secret; objectFormat: pfx; objectAlias: b64.pfx",
		"objectName: self-rsa; objectType: secret; objectFormat: pfx; objectEncoding: base64; objectAlias: bin.pfx",
		"objectName: self-ec; objectType: secret; objectAlias: ec.pem",
		"objectName: chain-pfx-3; objectType: secret; objectFormat: pfx; objectEncoding: base64; objectAlias: chain.pfx",
	)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	f := files(r)
	for _, k := range []string{"rsa-key", "ec-key"} {
		b := pemBlocks([]byte(f[k]))
		if len(b) != 1 || b[0].Type != "PUBLIC KEY" {
			t.Fatalf("%s: not a public key PEM", k)
		}
		if _, err := x509.ParsePKIXPublicKey(b[0].Bytes); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	bin, err := base64.StdEncoding.DecodeString(f["b64.pfx"])
	if err != nil {
		t.Fatalf("pfx with utf-8 encoding must be base64 text: %v", err)
	}
	if !bytes.Equal(bin, []byte(f["bin.pfx"])) {
		t.Fatal("objectEncoding base64 must give the binary PFX")
	}
	if b := pemBlocks([]byte(f["ec.pem"])); len(b) != 2 || b[0].Type != "PRIVATE KEY" {
		t.Fatalf("self-signed PEM certificate: %d blocks", len(b))
	}
	// History of keys and certificates: newest enabled first.
	r, err = e.mount(context.Background(), e.attrs(objs(
		"objectName: multi-key; objectType: key; objectVersionHistory: 5",
		"objectName: multi-cert; objectType: cert; objectVersionHistory: 1",
	)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	h := files(r)
	if len(h) != 3 {
		t.Fatalf("history files %v, want multi-key/0, multi-key/1, multi-cert", keys(h))
	}
	k0, _ := x509.ParsePKIXPublicKey(pemBlocks([]byte(h["multi-key/0"]))[0].Bytes)
	k1, _ := x509.ParsePKIXPublicKey(pemBlocks([]byte(h["multi-key/1"]))[0].Bytes)
	if _, ok := k0.(*ecdsa.PublicKey); !ok {
		t.Errorf("multi-key/0 is %T, want the newest (EC) version", k0)
	}
	if _, ok := k1.(*rsa.PublicKey); !ok {
		t.Errorf("multi-key/1 is %T, want the oldest (RSA) version", k1)
	}
	// A history of 1 is the plain object, as upstream.
	c0, err := x509.ParseCertificate(pemBlocks([]byte(h["multi-cert"]))[0].Bytes)
	if err != nil || c0.Subject.CommonName != "two" {
		t.Errorf("multi-cert is not the newest version: %v", err)
	}
	// The binary PFX is a real PKCS#12 holding the chain.
	out, err := renderPFX([]byte(f["chain.pfx"]))
	if err != nil || len(out) != 4 || !bytes.Equal(out[1].Bytes, chain.Leaf.Raw) {
		t.Fatalf("binary PFX: %v", err)
	}
}

func renderPFX(pfx []byte) ([]*pem.Block, error) {
	out, err := render.PFXToPEM(pfx, true)
	return pemBlocks(out), err
}
