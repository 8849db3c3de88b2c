package render

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/internal/testpki"
)

var update = flag.Bool("update", false, "rewrite the golden files (and create missing inputs)")

func blocks(t *testing.T, data []byte) []*pem.Block {
	t.Helper()
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		out = append(out, b)
	}
	return out
}

func TestOrderChainAllInputOrders(t *testing.T) {
	c, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	want := c.Certs()
	for i, in := range testpki.Permutations(c.Leaf, c.Intermediate, c.Root) {
		got := OrderChain(in)
		for j := range want {
			if got[j] != want[j] {
				t.Errorf("order %d: position %d is %s, want %s", i, j, got[j].Subject.CommonName, want[j].Subject.CommonName)
			}
		}
	}
}

func TestOrderChainIncompleteKeepsInputOrder(t *testing.T) {
	c1, _ := testpki.New()
	c2, _ := testpki.New()
	tests := []struct {
		name string
		in   []*x509.Certificate
	}{
		{"missing intermediate", []*x509.Certificate{c1.Root, c1.Leaf}},
		{"two unrelated leaves", []*x509.Certificate{c1.Leaf, c2.Leaf}},
		{"two chains", []*x509.Certificate{c1.Root, c2.Leaf, c1.Leaf, c2.Intermediate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := OrderChain(tc.in)
			for i := range tc.in {
				if got[i] != tc.in[i] {
					t.Fatalf("order changed at %d", i)
				}
			}
		})
	}
	// A self-signed root alone, and a root with its leaf, are not cycles.
	if got := OrderChain([]*x509.Certificate{c1.Root}); got[0] != c1.Root {
		t.Fatal("single root")
	}
}

func TestPFXToPEMKeyFirstThenLeafToRoot(t *testing.T) {
	c, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	for i, order := range testpki.Permutations(c.Leaf, c.Intermediate, c.Root) {
		pfx, err := c.PFX(order)
		if err != nil {
			t.Fatal(err)
		}
		out, err := PFXToPEM(pfx, true)
		if err != nil {
			t.Fatal(err)
		}
		bs := blocks(t, out)
		if len(bs) != 4 || bs[0].Type != "PRIVATE KEY" {
			t.Fatalf("order %d: want PRIVATE KEY + 3 certificates, got %d blocks, first %q", i, len(bs), bs[0].Type)
		}
		if _, err := x509.ParsePKCS8PrivateKey(bs[0].Bytes); err != nil {
			t.Fatalf("key is not PKCS#8: %v", err)
		}
		for j, want := range c.Certs() {
			if !bytes.Equal(bs[j+1].Bytes, want.Raw) {
				t.Errorf("order %d: certificate %d is not %s", i, j, want.Subject.CommonName)
			}
		}
	}
}

func TestRenderSecret(t *testing.T) {
	c, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	pfx, _ := c.PFX([]*x509.Certificate{c.Root, c.Leaf, c.Intermediate})
	pfx64 := base64.StdEncoding.EncodeToString(pfx)
	pemBundle, _ := c.PEM([]*x509.Certificate{c.Root, c.Leaf, c.Intermediate})
	tests := []struct {
		name    string
		s       Secret
		o       SecretOptions
		want    []byte
		warn    string // a warning containing this, and only it
		wantErr string
	}{
		{name: "plain utf-8", s: Secret{Value: "héllo"}, o: SecretOptions{Encoding: "utf-8"}, want: []byte("héllo")},
		{name: "hex", s: Secret{Value: "00ff10"}, o: SecretOptions{Encoding: "hex"}, want: []byte{0, 0xff, 0x10}},
		{name: "base64", s: Secret{Value: "AP8Q"}, o: SecretOptions{Encoding: "base64"}, want: []byte{0, 0xff, 0x10}},
		{name: "bad hex names no value", s: Secret{Value: "zz-secret"}, o: SecretOptions{Encoding: "hex"}, wantErr: "not valid hex"},
		{name: "bad base64", s: Secret{Value: "%%%"}, o: SecretOptions{Encoding: "base64"}, wantErr: "not valid standard base64"},
		{name: "pem certificate as uploaded", s: Secret{Value: pemBundle, ContentType: ContentTypePEM, CertBacked: true}, o: SecretOptions{ConstructPEMChain: true}, want: []byte(pemBundle)},
		{name: "pfx format as base64", s: Secret{Value: pfx64, ContentType: ContentTypePKCS12, CertBacked: true}, o: SecretOptions{Format: "pfx", Encoding: "utf-8"}, want: []byte(pfx64)},
		{name: "pfx format binary with base64 encoding", s: Secret{Value: pfx64, ContentType: ContentTypePKCS12, CertBacked: true}, o: SecretOptions{Format: "pfx", Encoding: "base64"}, want: pfx},
		{name: "pfx format of a PEM certificate: the stored PEM, as upstream, warned", s: Secret{Value: pemBundle, ContentType: ContentTypePEM, CertBacked: true}, o: SecretOptions{Format: "pfx"}, want: []byte(pemBundle), warn: "stored as PEM"},
		{name: "pfx format of a PEM certificate, strict", s: Secret{Value: pemBundle, ContentType: ContentTypePEM, CertBacked: true}, o: SecretOptions{Format: "pfx", Strict: true}, wantErr: "remove objectFormat, or import the certificate as PKCS#12 (refused: the provider runs with --strict"},
		{name: "base64 encoding of a certificate rendered as PEM: ignored, warned", s: Secret{Value: pemBundle, ContentType: ContentTypePEM, CertBacked: true}, o: SecretOptions{Encoding: "base64"}, want: []byte(pemBundle), warn: "objectEncoding base64 does not apply"},
		{name: "hex encoding of a PKCS#12 certificate rendered as PEM, strict", s: Secret{Value: pfx64, ContentType: ContentTypePKCS12, CertBacked: true}, o: SecretOptions{Encoding: "hex", Strict: true}, wantErr: "remove objectEncoding (refused"},
		{name: "pfx format of a certificate of unknown type", s: Secret{Value: pemBundle, ContentType: "text/plain", CertBacked: true}, o: SecretOptions{Format: "pfx"}, wantErr: "use objectFormat pem"},
		{name: "no content type", s: Secret{Value: pfx64, CertBacked: true}, o: SecretOptions{}, wantErr: "no content type"},
		{name: "bad pfx", s: Secret{Value: "AAAA", ContentType: ContentTypePKCS12, CertBacked: true}, o: SecretOptions{}, wantErr: "the certificate's PKCS#12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := RenderSecret(tc.s, tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.s.Value) {
					t.Fatalf("error leaks the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			switch {
			case tc.warn == "" && len(warns) > 0:
				t.Fatalf("unexpected warnings %v", warns)
			case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0].Msg, tc.warn)):
				t.Fatalf("warnings = %v, want one containing %q", warns, tc.warn)
			}
		})
	}
}

func TestRenderKey(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	eb, _ := ek.PublicKey.Bytes()
	size := 48
	tests := []struct {
		name    string
		k       JWK
		check   func(any) bool
		wantErr string
	}{
		{"rsa", JWK{Kty: "RSA", N: rk.N.Bytes(), E: big.NewInt(int64(rk.E)).Bytes()}, func(p any) bool { return rk.PublicKey.Equal(p) }, ""},
		{"rsa-hsm", JWK{Kty: "RSA-HSM", N: rk.N.Bytes(), E: big.NewInt(int64(rk.E)).Bytes()}, func(p any) bool { return rk.PublicKey.Equal(p) }, ""},
		{"ec p-384", JWK{Kty: "EC", Crv: "P-384", X: eb[1 : 1+size], Y: eb[1+size:]}, func(p any) bool { return ek.PublicKey.Equal(p) }, ""},
		{"ec short coordinates are padded", JWK{Kty: "EC-HSM", Crv: "P-384", X: bytes.TrimLeft(eb[1:1+size], "\x00"), Y: bytes.TrimLeft(eb[1+size:], "\x00")}, func(p any) bool { return ek.PublicKey.Equal(p) }, ""},
		{"p-256k", JWK{Kty: "EC", Crv: "P-256K", X: []byte{1}, Y: []byte{1}}, nil, "P-256K"},
		{"oct", JWK{Kty: "oct"}, nil, "only RSA, RSA-HSM, EC and EC-HSM"},
		{"point off the curve", JWK{Kty: "EC", Crv: "P-384", X: eb[1 : 1+size], Y: eb[1 : 1+size]}, nil, "not a point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RenderKey(tc.k)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := pem.Decode(out)
			if b == nil || b.Type != "PUBLIC KEY" {
				t.Fatalf("not a PUBLIC KEY PEM: %q", out)
			}
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil || !tc.check(pub) {
				t.Fatalf("public key mismatch: %v", err)
			}
		})
	}
}

func TestRenderCertAndSplit(t *testing.T) {
	c, _ := testpki.New()
	out, err := RenderCert(c.Leaf.Raw)
	if err != nil {
		t.Fatal(err)
	}
	bs := blocks(t, out)
	if len(bs) != 1 || !bytes.Equal(bs[0].Bytes, c.Leaf.Raw) {
		t.Fatal("cert must render the leaf only")
	}
	if _, err := RenderCert(nil); err == nil {
		t.Fatal("empty cer accepted")
	}
	bundle, _ := c.PEM(c.Certs())
	crt, key := SplitCertAndKey([]byte(bundle))
	if n := len(blocks(t, crt)); n != 3 {
		t.Fatalf(".crt has %d blocks, want 3", n)
	}
	if kb := blocks(t, key); len(kb) != 1 || kb[0].Type != "PRIVATE KEY" {
		t.Fatal(".key must hold the private key only")
	}
}

// TestGolden renders fixed inputs from testdata and compares with the
// golden files; go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	dir := "testdata"
	in := filepath.Join(dir, "chain-root-leaf-intermediate.pfx.b64")
	if _, err := os.Stat(in); os.IsNotExist(err) && *update {
		c, err := testpki.New()
		if err != nil {
			t.Fatal(err)
		}
		s, _ := c.PFXBase64([]*x509.Certificate{c.Root, c.Leaf, c.Intermediate})
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(in, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Fatalf("input: %v (run with -update once to create it)", err)
	}
	s := Secret{Value: string(raw), ContentType: ContentTypePKCS12, CertBacked: true}
	cases := map[string]SecretOptions{
		"pfx-to-pem-chain.golden":   {ConstructPEMChain: true},
		"pfx-to-pem-nochain.golden": {ConstructPEMChain: false},
		"pfx-format-base64.golden":  {Format: "pfx", Encoding: "utf-8"},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			got, warns, err := RenderSecret(s, o)
			if err != nil || len(warns) > 0 {
				t.Fatal(err, warns)
			}
			p := filepath.Join(dir, name)
			if *update {
				if err := os.WriteFile(p, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the golden file:\n%s", name, got)
			}
		})
	}
}
