package kvcrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
)

// TestSignVerify signs with every algorithm and checks the signature with the standard
// library against the public key as the SDK decodes it, so the emulator's signatures are what
// a client verifying locally (azkeys' crypto helpers, jose libraries) expects.
func TestSignVerify(t *testing.T) {
	tests := []struct {
		alg, kty string
		size     int
		crv      string
		hash     crypto.Hash
	}{
		{"RS256", "RSA", 2048, "", crypto.SHA256},
		{"RS384", "RSA", 3072, "", crypto.SHA384},
		{"RS512", "RSA-HSM", 4096, "", crypto.SHA512},
		{"PS256", "RSA", 2048, "", crypto.SHA256},
		{"PS384", "RSA", 2048, "", crypto.SHA384},
		{"PS512", "RSA", 3072, "", crypto.SHA512},
		{"ES256", "EC", 0, "P-256", crypto.SHA256},
		{"ES384", "EC", 0, "P-384", crypto.SHA384},
		{"ES512", "EC-HSM", 0, "P-521", crypto.SHA512},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			k := testKey(t, tc.kty, tc.size, tc.crv)
			h := tc.hash.New()
			h.Write([]byte("data signed by " + tc.alg))
			digest := h.Sum(nil)
			sig, err := k.Sign(tc.alg, digest)
			if err != nil {
				t.Fatal(err)
			}
			pub := sdkPublic(t, toSDK(t, k))
			switch tc.alg[:2] {
			case "RS":
				err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), tc.hash, digest, sig)
			case "PS":
				err = rsa.VerifyPSS(pub.(*rsa.PublicKey), tc.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			case "ES":
				size := len(sig) / 2
				if want := 2 * ((pub.(*ecdsa.PublicKey).Curve.Params().BitSize + 7) / 8); len(sig) != want {
					t.Fatalf("EC signature is %d bytes, want raw r||s of %d", len(sig), want)
				}
				if !ecdsa.Verify(pub.(*ecdsa.PublicKey), digest, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])) {
					err = errVerify
				}
			}
			if err != nil {
				t.Fatalf("standard library rejects the signature: %v", err)
			}
			ok, err := k.Verify(tc.alg, digest, sig)
			if err != nil || !ok {
				t.Fatalf("Verify(own signature) = %v, %v", ok, err)
			}
			sig[len(sig)/3] ^= 0x40
			ok, err = k.Verify(tc.alg, digest, sig)
			if err != nil || ok {
				t.Fatalf("Verify(tampered signature) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

type verifyError struct{}

func (verifyError) Error() string { return "ecdsa verification failed" }

var errVerify = verifyError{}

func TestSignRejects(t *testing.T) {
	rsaKey := testKey(t, "RSA", 2048, "")
	ecKey := testKey(t, "EC", 0, "P-256")
	d256 := sha256.Sum256([]byte("x"))
	tests := []struct {
		name   string
		key    *Key
		alg    string
		digest []byte
		field  string
		msg    string
	}{
		{"no alg", rsaKey, "", d256[:], "alg", "alg is required"},
		{"unknown alg", rsaKey, "HS256", d256[:], "alg", `"HS256" is not supported`},
		{"ES on RSA", rsaKey, "ES256", d256[:], "alg", "needs an EC key"},
		{"RS on EC", ecKey, "RS256", d256[:], "alg", "needs an RSA key"},
		{"ES384 on P-256", ecKey, "ES384", make([]byte, 48), "alg", "needs curve P-384"},
		{"data not digest", rsaKey, "RS256", []byte("the data itself"), "value", "must be 32 bytes"},
		{"SHA-1 digest for RS256", rsaKey, "RS256", make([]byte, sha1.Size), "value", "got 20 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []string{"sign", "verify"} {
				var err error
				if op == "sign" {
					_, err = tc.key.Sign(tc.alg, tc.digest)
				} else {
					_, err = tc.key.Verify(tc.alg, tc.digest, make([]byte, 64))
				}
				e, ok := AsError(err)
				if !ok || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("%s: err = %v, want field %s containing %q", op, err, tc.field, tc.msg)
				}
			}
		})
	}
}

// TestEncryptDecrypt encrypts with the standard library against the public key as the SDK
// sees it (what a client-side encrypt does) and decrypts in the emulator, and the reverse.
func TestEncryptDecrypt(t *testing.T) {
	k := testKey(t, "RSA", 2048, "")
	pub := sdkPublic(t, toSDK(t, k)).(*rsa.PublicKey)
	plain := []byte("a 32-byte content encryption key")
	for _, alg := range []string{AlgRSA15, AlgRSAOAEP, AlgRSAOAEP256} {
		t.Run(alg, func(t *testing.T) {
			var clientCT []byte
			var err error
			switch alg {
			case AlgRSA15:
				//lint:ignore SA1019 the emulator offers Key Vault's RSA1_5; a client encrypts with it here.
				clientCT, err = rsa.EncryptPKCS1v15(rand.Reader, pub, plain)
			case AlgRSAOAEP:
				clientCT, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plain, nil)
			case AlgRSAOAEP256:
				clientCT, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, plain, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.UnwrapKey(alg, clientCT)
			if err != nil || string(got) != string(plain) {
				t.Fatalf("UnwrapKey(client ciphertext) = %q, %v", got, err)
			}
			ct, err := k.Encrypt(alg, plain)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != 256 {
				t.Errorf("ciphertext is %d bytes, want the modulus size 256", len(ct))
			}
			got, err = k.Decrypt(alg, ct)
			if err != nil || string(got) != string(plain) {
				t.Fatalf("Decrypt(Encrypt(x)) = %q, %v", got, err)
			}
			wrapped, err := k.WrapKey(alg, plain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Decrypt(alg, wrapped[1:]); err == nil {
				t.Error("a truncated ciphertext decrypted")
			}
		})
	}
}

func TestEncryptRejects(t *testing.T) {
	rsaKey := testKey(t, "RSA", 2048, "")
	ecKey := testKey(t, "EC", 0, "P-256")
	tests := []struct {
		name  string
		key   *Key
		alg   string
		value []byte
		field string
		msg   string
	}{
		{"EC key", ecKey, AlgRSAOAEP, []byte("x"), "alg", "can only sign and verify"},
		{"AES alg", rsaKey, "A256GCM", []byte("x"), "alg", "Managed HSM"},
		{"no alg", rsaKey, "", []byte("x"), "alg", "alg is required"},
		{"too long OAEP-256", rsaKey, AlgRSAOAEP256, make([]byte, 191), "value", "at most 190 bytes"},
		{"too long RSA1_5", rsaKey, AlgRSA15, make([]byte, 246), "value", "at most 245 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.key.Encrypt(tc.alg, tc.value)
			e, ok := AsError(err)
			if !ok || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("err = %v, want field %s containing %q", err, tc.field, tc.msg)
			}
		})
	}
	if _, err := rsaKey.Decrypt(AlgRSAOAEP, []byte("not a ciphertext")); err == nil {
		t.Error("garbage decrypted")
	} else if e, ok := AsError(err); !ok || e.Field != "value" {
		t.Errorf("decrypt garbage: err = %v, want a value *Error", err)
	}
}
