package dataplane

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"github.com/kvcsi/kvcsi/kvemulator/internal/seed"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"
)

func TestSeedKeysAndCertificates(t *testing.T) {
	pemValue, err := os.ReadFile("../../kvcrypto/testdata/rsa.pem")
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := os.ReadFile("../../kvcrypto/testdata/rsa-password.pfx64")
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(string(pemValue))
	pfxQuoted, _ := json.Marshal(string(pfx))
	yaml := `vaults:
  - name: kv1
    keys:
      - name: signing
        versions:
          - {version: 0123456789abcdef0123456789abcdef, kty: EC, crv: P-384}
          - {kty: RSA, keySize: 3072, keyOps: [sign, verify], tags: {use: jwt}}
    certificates:
      - name: web
        versions:
          - {subject: "CN=web.test", dnsNames: [web.test], validityMonths: 2, contentType: application/x-pem-file}
          - {version: fedcba9876543210fedcba9876543210, kty: EC, crv: P-256, subject: "CN=web.test"}
      - name: imported
        versions:
          - {pem: ` + string(quoted) + `}
          - {pfx: ` + string(pfxQuoted) + `, password: s3cret-pfx}
`
	sd, err := seed.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Build(sd, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v := st.Vaults["kv1"]
	signing := v.Keys["signing"]
	if len(signing.Versions) != 2 || signing.Versions[0].Version != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("signing versions = %+v", signing.Versions)
	}
	k0, err := keyOf(signing.Versions[0])
	if err != nil || k0.Curve() != "P-384" {
		t.Errorf("version 0 = %v, %v", k0, err)
	}
	k1, err := keyOf(signing.Versions[1])
	if err != nil || k1.Size() != 3072 || k1.Permits("encrypt") || signing.Versions[1].Tags["use"] != "jwt" {
		t.Errorf("version 1 = size %d ops %v tags %v, %v", k1.Size(), k1.Ops(), signing.Versions[1].Tags, err)
	}

	for _, name := range []string{"web", "imported"} {
		certs, keys, secrets := v.Certificates[name], v.Keys[name], v.Secrets[name]
		if len(certs.Versions) != 2 || len(keys.Versions) != 2 || len(secrets.Versions) != 2 {
			t.Fatalf("%s: %d/%d/%d versions of certificate/key/secret, want 2 each", name, len(certs.Versions), len(keys.Versions), len(secrets.Versions))
		}
		for i, cv := range certs.Versions {
			kv, sv := keys.Versions[i], secrets.Versions[i]
			if kv.Version != cv.Version || sv.Version != cv.Version || !kv.Managed || !sv.Managed {
				t.Errorf("%s[%d]: versions %s/%s/%s managed %v/%v", name, i, cv.Version, kv.Version, sv.Version, kv.Managed, sv.Managed)
			}
			leaf, err := x509.ParseCertificate(cv.CER)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := keyOf(kv)
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
				t.Errorf("%s[%d]: key does not match the certificate", name, i)
			}
		}
	}
	web := v.Certificates["web"]
	if web.Versions[1].Version != "fedcba9876543210fedcba9876543210" {
		t.Errorf("web version 1 id = %s", web.Versions[1].Version)
	}
	if v.Secrets["web"].Versions[0].ContentType != kvcrypto.ContentTypePEM || v.Secrets["web"].Versions[1].ContentType != kvcrypto.ContentTypePKCS12 {
		t.Errorf("web content types = %s, %s", v.Secrets["web"].Versions[0].ContentType, v.Secrets["web"].Versions[1].ContentType)
	}
	if v.Secrets["imported"].Versions[0].ContentType != kvcrypto.ContentTypePEM || v.Secrets["imported"].Versions[1].ContentType != kvcrypto.ContentTypePKCS12 {
		t.Error("imported content types are not detected from the value")
	}
}

func TestSeedCryptoErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unsupported kty", "vaults: [{name: kv1, keys: [{name: k, versions: [{kty: oct}]}]}]", "keys[0] (k) versions[0]: kty oct"},
		{"unsupported curve", "vaults: [{name: kv1, keys: [{name: k, versions: [{kty: EC, crv: P-256K}]}]}]", "crv P-256K"},
		{"bad key version", "vaults: [{name: kv1, keys: [{name: k, versions: [{kty: EC, version: v1}]}]}]", `version "v1"`},
		{"certificate without subject", "vaults: [{name: kv1, certificates: [{name: c, versions: [{kty: RSA}]}]}]", "certificates[0] (c) versions[0]: subject is required"},
		{"wrong pfx password", "vaults: [{name: kv1, certificates: [{name: c, versions: [{pfx: " + mustRead(t, "../../kvcrypto/testdata/rsa-password.pfx64") + ", password: nope}]}]}]", "password in pwd is incorrect"},
		{"certificate over a key", "vaults: [{name: kv1, keys: [{name: c, versions: [{kty: EC}]}], certificates: [{name: c, versions: [{subject: CN=c}]}]}]", "A key named c exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := seed.Parse([]byte(tc.yaml))
			if err == nil {
				_, err = Build(sd, time.Now())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := json.Marshal(string(b))
	return string(q)
}
