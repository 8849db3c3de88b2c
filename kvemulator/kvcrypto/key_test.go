package kvcrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// keyCache generates each key shape once per test binary: RSA-4096 generation is slow and
// the tests only need distinct shapes, not fresh keys.
var keyCache sync.Map

func testKey(t testing.TB, kty string, size int, crv string) *Key {
	t.Helper()
	id := fmt.Sprint(kty, size, crv)
	if k, ok := keyCache.Load(id); ok {
		return k.(*Key)
	}
	k, err := Generate(GenerateOptions{Kty: kty, Size: size, Curve: crv})
	if err != nil {
		t.Fatalf("Generate(%s): %v", id, err)
	}
	keyCache.Store(id, k)
	return k
}

// toSDK renders our public JWK as JSON and decodes it with the real azkeys model, as a
// client does with a get-key response.
func toSDK(t *testing.T, k *Key) *azkeys.JSONWebKey {
	t.Helper()
	b, err := json.Marshal(k.PublicJWK("https://v.vault.kvcsi.test/keys/k/0123"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "=") {
		t.Errorf("public JWK has base64 padding: %s", b)
	}
	var sdk azkeys.JSONWebKey
	if err := json.Unmarshal(b, &sdk); err != nil {
		t.Fatalf("azkeys cannot decode our JWK: %v\n%s", err, b)
	}
	return &sdk
}

// sdkPublic rebuilds a public key from the SDK's view of the JWK, independently of kvcrypto.
func sdkPublic(t *testing.T, j *azkeys.JSONWebKey) crypto.PublicKey {
	t.Helper()
	switch *j.Kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return &rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(new(big.Int).SetBytes(j.E).Int64())}
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		curves := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}
		raw := append(append([]byte{4}, j.X...), j.Y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curves[*j.Crv], raw)
		if err != nil {
			t.Fatalf("SDK JWK is not a point on %s: %v", *j.Crv, err)
		}
		return pub
	}
	t.Fatalf("unexpected kty %v", *j.Kty)
	return nil
}

func TestGeneratePublicJWK(t *testing.T) {
	tests := []struct {
		name    string
		opts    GenerateOptions
		wantLen int // len(n) for RSA, len(x) for EC
		wantOps []string
	}{
		{"RSA default size", GenerateOptions{Kty: "RSA"}, 256, rsaOps},
		{"RSA 3072", GenerateOptions{Kty: "RSA", Size: 3072}, 384, rsaOps},
		{"RSA-HSM 4096", GenerateOptions{Kty: "RSA-HSM", Size: 4096}, 512, rsaOps},
		{"EC default curve", GenerateOptions{Kty: "EC"}, 32, ecOps},
		{"EC P-384", GenerateOptions{Kty: "EC", Curve: "P-384"}, 48, ecOps},
		{"EC-HSM P-521", GenerateOptions{Kty: "EC-HSM", Curve: "P-521"}, 66, ecOps},
		{"RSA restricted ops", GenerateOptions{Kty: "RSA", Ops: []string{"sign", "verify", "sign"}}, 256, []string{"sign", "verify"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := testKey(t, tc.opts.Kty, tc.opts.Size, tc.opts.Curve)
			if tc.opts.Ops != nil {
				var err error
				if k, err = k.WithOps(tc.opts.Ops); err != nil {
					t.Fatal(err)
				}
			}
			j := k.PublicJWK("kid")
			if len(j.D)+len(j.P)+len(j.Q)+len(j.DP)+len(j.DQ)+len(j.QI) != 0 {
				t.Fatal("public JWK carries private members")
			}
			sdk := toSDK(t, k)
			if string(*sdk.Kty) != tc.opts.Kty {
				t.Errorf("kty = %s, want %s", *sdk.Kty, tc.opts.Kty)
			}
			got := len(sdk.N)
			if strings.HasPrefix(tc.opts.Kty, "EC") {
				got = len(sdk.X)
				if len(sdk.Y) != tc.wantLen {
					t.Errorf("len(y) = %d, want %d", len(sdk.Y), tc.wantLen)
				}
			} else if string(j.E) != "\x01\x00\x01" {
				t.Errorf("e = %x, want 010001", []byte(j.E))
			}
			if got != tc.wantLen {
				t.Errorf("member length = %d, want %d", got, tc.wantLen)
			}
			var ops []string
			for _, op := range sdk.KeyOps {
				ops = append(ops, string(*op))
			}
			if fmt.Sprint(ops) != fmt.Sprint(tc.wantOps) {
				t.Errorf("key_ops = %v, want %v", ops, tc.wantOps)
			}
			// The public key the SDK sees is the one that verifies our signatures.
			if !sdkPublicMatches(sdkPublic(t, sdk), k.Public()) {
				t.Error("public key decoded by the SDK differs from the key held")
			}
		})
	}
}

func sdkPublicMatches(a, b crypto.PublicKey) bool {
	return a.(interface{ Equal(crypto.PublicKey) bool }).Equal(b)
}

func TestGenerateRejects(t *testing.T) {
	tests := []struct {
		name, field, msg string
		opts             GenerateOptions
	}{
		{"missing kty", "kty", "kty is required", GenerateOptions{}},
		{"oct", "kty", "Managed HSM", GenerateOptions{Kty: "oct"}},
		{"unknown kty", "kty", `"DSA" is not supported`, GenerateOptions{Kty: "DSA"}},
		{"RSA 1024", "key_size", "key_size 1024 is not supported", GenerateOptions{Kty: "RSA", Size: 1024}},
		{"exponent 3", "public_exponent", "public_exponent 3", GenerateOptions{Kty: "RSA", PublicExponent: 3}},
		{"RSA with curve", "crv", "only valid for EC", GenerateOptions{Kty: "RSA", Curve: "P-256"}},
		{"secp256k1", "crv", "P-256K is not supported", GenerateOptions{Kty: "EC", Curve: "P-256K"}},
		{"unknown curve", "crv", `"P-192" is not supported`, GenerateOptions{Kty: "EC", Curve: "P-192"}},
		{"EC with size", "key_size", "only valid for RSA", GenerateOptions{Kty: "EC", Size: 256}},
		{"EC encrypt op", "key_ops", `"encrypt" is not valid for kty EC`, GenerateOptions{Kty: "EC", Ops: []string{"sign", "encrypt"}}},
		{"empty ops", "key_ops", "key_ops is empty", GenerateOptions{Kty: "RSA", Ops: []string{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Generate(tc.opts)
			if k != nil {
				t.Fatal("got a key")
			}
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("err = %s: %q, want field %s containing %q", e.Field, e.Message, tc.field, tc.msg)
			}
		})
	}
}

// TestImportJWKFromSDK imports keys serialised by the real azkeys model, as import-key
// requests arrive, and checks the emulator then signs with exactly that key.
func TestImportJWKFromSDK(t *testing.T) {
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecD, _ := ecPriv.Bytes()
	ecPub, _ := ecPriv.PublicKey.Bytes()
	kty := func(k azkeys.KeyType) *azkeys.KeyType { return &k }
	crv := azkeys.CurveNameP256
	tests := []struct {
		name   string
		jwk    azkeys.JSONWebKey
		hsm    bool
		want   crypto.PublicKey
		wantTy string
	}{
		{"RSA full", azkeys.JSONWebKey{Kty: kty(azkeys.KeyTypeRSA), N: rsaPriv.N.Bytes(), E: []byte{1, 0, 1}, D: rsaPriv.D.Bytes(),
			P: rsaPriv.Primes[0].Bytes(), Q: rsaPriv.Primes[1].Bytes(), DP: rsaPriv.Precomputed.Dp.Bytes(), DQ: rsaPriv.Precomputed.Dq.Bytes(), QI: rsaPriv.Precomputed.Qinv.Bytes()},
			false, &rsaPriv.PublicKey, "RSA"},
		{"RSA without CRT members, as HSM", azkeys.JSONWebKey{Kty: kty(azkeys.KeyTypeRSA), N: rsaPriv.N.Bytes(), E: []byte{1, 0, 1}, D: rsaPriv.D.Bytes(),
			P: rsaPriv.Primes[0].Bytes(), Q: rsaPriv.Primes[1].Bytes()}, true, &rsaPriv.PublicKey, "RSA-HSM"},
		{"EC", azkeys.JSONWebKey{Kty: kty(azkeys.KeyTypeEC), Crv: &crv, D: ecD, X: ecPub[1:33], Y: ecPub[33:]}, false, &ecPriv.PublicKey, "EC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := json.Marshal(azkeys.ImportKeyParameters{Key: &tc.jwk, HSM: &tc.hsm})
			if err != nil {
				t.Fatal(err)
			}
			var req struct {
				Key *JWK `json:"key"`
				HSM bool `json:"Hsm"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("decode SDK request %s: %v", body, err)
			}
			k, err := ImportJWK(req.Key, req.HSM)
			if err != nil {
				t.Fatal(err)
			}
			if k.Kty() != tc.wantTy {
				t.Errorf("kty = %s, want %s", k.Kty(), tc.wantTy)
			}
			if !sdkPublicMatches(tc.want, k.Public()) {
				t.Error("imported key differs from the original")
			}
			// Round trip through the persisted form keeps the same key.
			b, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			var back Key
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !sdkPublicMatches(back.Public(), k.Public()) || back.Kty() != k.Kty() {
				t.Error("persisted key does not round trip")
			}
		})
	}
}

func TestImportJWKRejects(t *testing.T) {
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecD, _ := ecPriv.Bytes()
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPub, _ := otherEC.PublicKey.Bytes()
	tests := []struct {
		name, field, msg string
		jwk              *JWK
	}{
		{"nil", "key", "key is required", nil},
		{"public only RSA", "key", "must carry d, p and q", &JWK{Kty: "RSA", N: rsaPriv.N.Bytes(), E: Bytes{1, 0, 1}}},
		{"mismatched primes", "key", "inconsistent", &JWK{Kty: "RSA", N: rsaPriv.N.Bytes(), E: Bytes{1, 0, 1}, D: rsaPriv.D.Bytes(), P: other.Primes[0].Bytes(), Q: other.Primes[1].Bytes()}},
		{"public only EC", "key", "must carry d", &JWK{Kty: "EC", Crv: "P-256", X: otherPub[1:33], Y: otherPub[33:]}},
		{"EC wrong public", "key", "x and y are not the public key", &JWK{Kty: "EC", Crv: "P-256", D: ecD, X: otherPub[1:33], Y: otherPub[33:]}},
		{"EC unsupported curve", "crv", "P-256K", &JWK{Kty: "EC", Crv: "P-256K", D: ecD}},
		{"oct", "kty", "Managed HSM", &JWK{Kty: "oct", K: Bytes("0123456789abcdef")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportJWK(tc.jwk, false)
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("err = %s: %q, want field %s containing %q", e.Field, e.Message, tc.field, tc.msg)
			}
		})
	}
}

func TestBytesDecodesClientEncodings(t *testing.T) {
	want := []byte{0xfb, 0xff}
	for _, in := range []string{`"-_8"`, `"-_8="`, `"+/8"`, `"+/8="`} {
		var b Bytes
		if err := json.Unmarshal([]byte(in), &b); err != nil || string(b) != string(want) {
			t.Errorf("decode %s = %x, %v; want %x", in, []byte(b), err, want)
		}
	}
	var b Bytes
	if err := json.Unmarshal([]byte(`"!!"`), &b); err == nil {
		t.Error("invalid base64 accepted")
	}
}
