package kvcrypto

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
)

// Encryption and key-wrap algorithms Key Vault offers for RSA keys.
const (
	AlgRSA15      = "RSA1_5"
	AlgRSAOAEP    = "RSA-OAEP"
	AlgRSAOAEP256 = "RSA-OAEP-256"
)

// rsaForCipher checks alg and the key type for encrypt/decrypt/wrap/unwrap and returns the
// OAEP hash (nil for RSA1_5).
func (k *Key) rsaForCipher(alg string) (*rsa.PrivateKey, func() hash.Hash, error) {
	var h func() hash.Hash
	switch alg {
	case AlgRSA15:
	case AlgRSAOAEP:
		h = sha1.New
	case AlgRSAOAEP256:
		h = sha256.New
	case "":
		return nil, nil, badParam("alg", "alg is required: use RSA-OAEP-256, RSA-OAEP or RSA1_5")
	default:
		return nil, nil, badParam("alg", "algorithm %q is not supported for this key: use RSA-OAEP-256, RSA-OAEP or RSA1_5 (AES algorithms need a Managed HSM oct key)", alg)
	}
	priv, ok := k.signer.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, badParam("alg", "algorithm %s needs an RSA key; this key is %s, which can only sign and verify", alg, k.kty)
	}
	return priv, h, nil
}

// Encrypt encrypts plaintext with the public key (also used for wrapKey).
func (k *Key) Encrypt(alg string, plaintext []byte) ([]byte, error) {
	priv, h, err := k.rsaForCipher(alg)
	if err != nil {
		return nil, err
	}
	if h == nil {
		if len(plaintext) > priv.Size()-11 {
			return nil, badParam("value", "value is %d bytes; RSA1_5 with a %d-bit key encrypts at most %d bytes", len(plaintext), priv.N.BitLen(), priv.Size()-11)
		}
		//lint:ignore SA1019 RSA1_5 is a Key Vault algorithm clients may still ask for; the emulator must offer it.
		return rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, plaintext)
	}
	if max := priv.Size() - 2*h().Size() - 2; len(plaintext) > max {
		return nil, badParam("value", "value is %d bytes; %s with a %d-bit key encrypts at most %d bytes", len(plaintext), alg, priv.N.BitLen(), max)
	}
	return rsa.EncryptOAEP(h(), rand.Reader, &priv.PublicKey, plaintext, nil)
}

// Decrypt decrypts ciphertext with the private key (also used for unwrapKey).
func (k *Key) Decrypt(alg string, ciphertext []byte) ([]byte, error) {
	priv, h, err := k.rsaForCipher(alg)
	if err != nil {
		return nil, err
	}
	// An RSA ciphertext is exactly the modulus size; a shorter one would be
	// read as a number with leading zeros and could, rarely, pass the
	// PKCS#1 v1.5 padding check and "decrypt" to garbage.
	if size := priv.Size(); len(ciphertext) != size {
		return nil, badParam("value", "value is %d bytes; an %s ciphertext for this %d-bit key is exactly %d bytes: check that it was encrypted with this key version", len(ciphertext), alg, 8*size, size)
	}
	var out []byte
	if h == nil {
		//lint:ignore SA1019 RSA1_5 is a Key Vault algorithm clients may still ask for; the emulator must offer it.
		out, err = rsa.DecryptPKCS1v15(nil, priv, ciphertext)
	} else {
		out, err = rsa.DecryptOAEP(h(), nil, priv, ciphertext, nil)
	}
	if err != nil {
		return nil, badParam("value", "value could not be decrypted with %s by this key: check the algorithm and that it was encrypted with this key version", alg)
	}
	return out, nil
}

// WrapKey wraps a key (encrypts it) with alg.
func (k *Key) WrapKey(alg string, key []byte) ([]byte, error) { return k.Encrypt(alg, key) }

// UnwrapKey unwraps a key wrapped by WrapKey.
func (k *Key) UnwrapKey(alg string, wrapped []byte) ([]byte, error) { return k.Decrypt(alg, wrapped) }
