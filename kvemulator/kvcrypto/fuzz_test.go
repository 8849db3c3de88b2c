package kvcrypto

import (
	"crypto"
	"encoding/json"
	"os"
	"testing"
)

// FuzzImportCertificate feeds arbitrary import values (PEM text or base64 PFX) and passwords:
// the decoder must never panic, and anything it accepts must be a usable certificate whose
// key matches its leaf and whose backing secret renders.
func FuzzImportCertificate(f *testing.F) {
	for _, name := range []string{"rsa.pem", "rsa-pkcs1.pem", "chain-keylast.pem", "rsa-nopassword.pfx64", "rsa-password.pfx64", "ec-legacy.pfx64"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "s3cret-pfx")
	}
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "")
	f.Add("MIIB", "")
	f.Fuzz(func(t *testing.T, value, password string) {
		c, ct, err := ImportCertificate(value, password, "")
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a caller *Error: %v", err)
			}
			return
		}
		if !c.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Leaf().PublicKey) {
			t.Fatal("accepted a certificate whose key does not match the leaf")
		}
		if _, err := c.SecretValue(ct, true); err != nil {
			t.Fatalf("accepted certificate does not render: %v", err)
		}
	})
}

// FuzzParseSubject checks the DN parser never panics and that what it accepts encodes.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"CN=a", `CN=api.example.com, OU="Ops, Platform", O=Contoso, C=US`, `CN=a\,b;O=x`, "cn=MyCert", `E=a@b.c, DC=example, DC=com`, `CN="unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := ParseSubject(s)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a caller *Error: %v", err)
			}
			return
		}
		if len(seq) == 0 {
			t.Fatal("accepted an empty subject")
		}
	})
}

// FuzzImportJWK decodes arbitrary import-key bodies: no panics, only caller errors, and an
// accepted key signs and verifies.
func FuzzImportJWK(f *testing.F) {
	k, err := Generate(GenerateOptions{Kty: KtyEC})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(k)
	f.Add(string(b))
	f.Add(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQ","p":"Aw","q":"BQ"}`)
	f.Add(`{"kty":"EC","crv":"P-256","d":"AQ"}`)
	f.Add(`{"kty":"oct","k":"AAAA"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var j JWK
		if json.Unmarshal([]byte(body), &j) != nil {
			return
		}
		key, err := ImportJWK(&j, false)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a caller *Error: %v", err)
			}
			return
		}
		alg := map[string]string{CurveP256: "ES256", CurveP384: "ES384", CurveP521: "ES512", "": "RS256"}[key.Curve()]
		digest := make([]byte, signAlgs[alg].hash.Size())
		sig, err := key.Sign(alg, digest)
		if err != nil {
			t.Fatalf("accepted key cannot sign: %v", err)
		}
		if ok, err := key.Verify(alg, digest, sig); !ok || err != nil {
			t.Fatalf("accepted key does not verify its own signature: %v", err)
		}
	})
}
