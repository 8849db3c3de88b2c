package kvcrypto

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"
)

func BenchmarkGenerate(b *testing.B) {
	for _, o := range []GenerateOptions{{Kty: KtyRSA, Size: 2048}, {Kty: KtyEC, Curve: CurveP256}, {Kty: KtyEC, Curve: CurveP384}} {
		b.Run(o.Kty+o.Curve, func(b *testing.B) {
			for b.Loop() {
				if _, err := Generate(o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	digest := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		alg string
		key *Key
	}{
		{"RS256", testKey(b, KtyRSA, 2048, "")},
		{"PS256", testKey(b, KtyRSA, 2048, "")},
		{"ES256", testKey(b, KtyEC, 0, CurveP256)},
	} {
		b.Run(tc.alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.key.Sign(tc.alg, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeStoredKey is what the emulator pays to turn a stored private JWK back into a
// key (it caches the result per version).
func BenchmarkDecodeStoredKey(b *testing.B) {
	raw, _ := json.Marshal(testKey(b, KtyRSA, 2048, ""))
	for b.Loop() {
		var k Key
		if err := json.Unmarshal(raw, &k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateSelfSignedRSA2048(b *testing.B) {
	key := testKey(b, KtyRSA, 2048, "")
	for b.Loop() {
		p := Policy{X509Props: &X509Props{Subject: "CN=bench", SANs: &SANs{DNSNames: []string{"bench"}}}}
		if err := p.Normalize(); err != nil {
			b.Fatal(err)
		}
		if _, err := CreateSelfSigned(&p, key, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSecretValue(b *testing.B) {
	p := Policy{X509Props: &X509Props{Subject: "CN=bench"}}
	_ = p.Normalize()
	c, err := CreateSelfSigned(&p, testKey(b, KtyRSA, 2048, ""), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, ct := range []string{ContentTypePKCS12, ContentTypePEM} {
		b.Run(ct, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.SecretValue(ct, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
