package secretsync

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// testPKI is a CA and two leaves, RSA and ECDSA, as a Key Vault certificate-backed secret holds.
type testPKI struct {
	caKey   *rsa.PrivateKey
	ca      *x509.Certificate
	rsaKey  *rsa.PrivateKey
	rsaLeaf *x509.Certificate
	ecKey   *ecdsa.PrivateKey
	ecLeaf  *x509.Certificate
	edKey   ed25519.PrivateKey
	edLeaf  *x509.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{}
	var err error
	p.caKey, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.ca = makeCert(t, "test-ca", true, p.caKey.Public(), nil, p.caKey)
	p.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.rsaLeaf = makeCert(t, "rsa.example.com", false, p.rsaKey.Public(), p.ca, p.caKey)
	p.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.ecLeaf = makeCert(t, "ec.example.com", false, p.ecKey.Public(), p.ca, p.caKey)
	_, p.edKey, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.edLeaf = makeCert(t, "ed.example.com", false, p.edKey.Public(), p.ca, p.caKey)
	return p
}

var serial int64

func makeCert(t testing.TB, cn string, isCA bool, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func certsPEM(t testing.TB, certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(pemOf(t, "CERTIFICATE", c.Raw))
	}
	return b.Bytes()
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestTLSPart(t *testing.T) {
	p := newTestPKI(t)
	ecDER, err := x509.MarshalECPrivateKey(p.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	// The provider's rendering of a certificate-backed secret: key (PKCS#8) first, then leaf → root.
	rsaBundle := join(pkcs8(t, p.rsaKey), certsPEM(t, p.rsaLeaf, p.ca))
	ecBundle := join(pkcs8(t, p.ecKey), certsPEM(t, p.ecLeaf, p.ca))
	pfx, err := pkcs12.Modern.Encode(p.rsaKey, p.rsaLeaf, []*x509.Certificate{p.ca}, "")
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS1 := pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.rsaKey))
	ecSEC1 := pemOf(t, "EC PRIVATE KEY", ecDER)

	tests := []struct {
		name    string
		content []byte
		key     string
		want    []byte
		wantErr string
	}{
		{name: "rsa tls.crt is the whole chain", content: rsaBundle, key: "tls.crt", want: certsPEM(t, p.rsaLeaf, p.ca)},
		{name: "rsa tls.key is PKCS#1", content: rsaBundle, key: "tls.key", want: rsaPKCS1},
		{name: "rsa ca.crt is the CA only", content: rsaBundle, key: "ca.crt", want: certsPEM(t, p.ca)},
		{name: "ecdsa tls.crt", content: ecBundle, key: "tls.crt", want: certsPEM(t, p.ecLeaf, p.ca)},
		{name: "ecdsa tls.key is SEC1", content: ecBundle, key: "tls.key", want: ecSEC1},
		{name: "ecdsa SEC1 input stays SEC1", content: join(ecSEC1, certsPEM(t, p.ecLeaf)), key: "tls.key", want: ecSEC1},
		{name: "rsa PKCS#1 input stays PKCS#1", content: join(certsPEM(t, p.rsaLeaf), rsaPKCS1), key: "tls.key", want: rsaPKCS1},
		{name: "ed25519 tls.key is PKCS#8", content: join(pkcs8(t, p.edKey), certsPEM(t, p.edLeaf)), key: "tls.key", want: pkcs8(t, p.edKey)},
		{name: "last key wins", content: join(pkcs8(t, p.ecKey), pkcs8(t, p.rsaKey), certsPEM(t, p.rsaLeaf)), key: "tls.key", want: rsaPKCS1},
		{name: "pkcs12 binary tls.crt", content: pfx, key: "tls.crt", want: certsPEM(t, p.rsaLeaf, p.ca)},
		{name: "pkcs12 binary tls.key", content: pfx, key: "tls.key", want: rsaPKCS1},
		{name: "pkcs12 base64 tls.key", content: []byte(base64.StdEncoding.EncodeToString(pfx) + "\n"), key: "tls.key", want: rsaPKCS1},
		{name: "pkcs12 base64 ca.crt", content: []byte(base64.StdEncoding.EncodeToString(pfx)), key: "ca.crt", want: certsPEM(t, p.ca)},
		{name: "ca.crt without any CA takes every certificate", content: certsPEM(t, p.rsaLeaf), key: "ca.crt", want: certsPEM(t, p.rsaLeaf)},
		{name: "ca.crt from a CA bundle object", content: certsPEM(t, p.ca), key: "ca.crt", want: certsPEM(t, p.ca)},
		{name: "missing key (objectType cert)", content: certsPEM(t, p.rsaLeaf), key: "tls.key", wantErr: "objectType: secret"},
		{name: "missing certificate", content: pkcs8(t, p.rsaKey), key: "tls.crt", wantErr: "has no certificate"},
		{name: "public key only is not a private key", content: join(pemOf(t, "PUBLIC KEY", []byte{1, 2}), certsPEM(t, p.rsaLeaf)), key: "tls.key", wantErr: "has no private key"},
		{name: "encrypted key", content: pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1}), key: "tls.key", wantErr: "encrypted private key"},
		{name: "garbage", content: []byte("not a certificate"), key: "tls.crt", wantErr: "neither PEM nor a PKCS#12"},
		{name: "bad certificate block", content: pemOf(t, "CERTIFICATE", []byte("xx")), key: "tls.crt", wantErr: "CERTIFICATE block 1"},
		{name: "unknown key", content: rsaBundle, key: "tls.pem", wantErr: `key "tls.pem" is not allowed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tlsPart(tc.content, tc.key)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestTLSPartPairs checks the split halves load as a key pair, as an ingress controller loads them.
func TestTLSPartPairs(t *testing.T) {
	p := newTestPKI(t)
	for name, content := range map[string][]byte{
		"rsa":   join(pkcs8(t, p.rsaKey), certsPEM(t, p.rsaLeaf, p.ca)),
		"ecdsa": join(pkcs8(t, p.ecKey), certsPEM(t, p.ecLeaf, p.ca)),
	} {
		crt, err := tlsPart(content, "tls.crt")
		if err != nil {
			t.Fatal(err)
		}
		key, err := tlsPart(content, "tls.key")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			t.Errorf("%s: split halves do not form a key pair: %v", name, err)
		}
	}
}

// BenchmarkTLSPart splits a key + two-certificate chain into tls.crt and tls.key, as each sync of
// a kubernetes.io/tls Secret does.
func BenchmarkTLSPart(b *testing.B) {
	p := newTestPKI(b)
	bundle := join(pkcs8(b, p.rsaKey), certsPEM(b, p.rsaLeaf, p.ca))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tlsPart(bundle, "tls.crt"); err != nil {
			b.Fatal(err)
		}
		if _, err := tlsPart(bundle, "tls.key"); err != nil {
			b.Fatal(err)
		}
	}
}
