package kvcrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
)

// signAlg describes a Key Vault signature algorithm.
type signAlg struct {
	hash  crypto.Hash
	kind  string // "pkcs1", "pss" or "ecdsa"
	curve string // for ecdsa: the only curve the algorithm is defined for
}

var signAlgs = map[string]signAlg{
	"RS256": {crypto.SHA256, "pkcs1", ""},
	"RS384": {crypto.SHA384, "pkcs1", ""},
	"RS512": {crypto.SHA512, "pkcs1", ""},
	"PS256": {crypto.SHA256, "pss", ""},
	"PS384": {crypto.SHA384, "pss", ""},
	"PS512": {crypto.SHA512, "pss", ""},
	"ES256": {crypto.SHA256, "ecdsa", CurveP256},
	"ES384": {crypto.SHA384, "ecdsa", CurveP384},
	"ES512": {crypto.SHA512, "ecdsa", CurveP521},
}

// lookupSign resolves alg for this key and checks the digest length, the checks Key Vault
// makes before signing or verifying.
func (k *Key) lookupSign(alg string, digest []byte) (signAlg, error) {
	a, ok := signAlgs[alg]
	if !ok {
		if alg == "" {
			return a, badParam("alg", "alg is required: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512")
		}
		return a, badParam("alg", "signature algorithm %q is not supported: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512", alg)
	}
	switch a.kind {
	case "ecdsa":
		if normKty(k.kty) != KtyEC {
			return a, badParam("alg", "algorithm %s needs an EC key; this key is %s: use RS256/PS256 or their 384/512 forms", alg, k.kty)
		}
		if k.Curve() != a.curve {
			return a, badParam("alg", "algorithm %s needs curve %s; this key is on %s", alg, a.curve, k.Curve())
		}
	default:
		if normKty(k.kty) != KtyRSA {
			return a, badParam("alg", "algorithm %s needs an RSA key; this key is %s on %s: use the ES algorithm of its curve", alg, k.kty, k.Curve())
		}
	}
	if len(digest) != a.hash.Size() {
		return a, badParam("value", "the digest for %s must be %d bytes (the %s hash of the data, computed by the caller); got %d bytes", alg, a.hash.Size(), a.hash, len(digest))
	}
	return a, nil
}

// Sign signs digest, the caller-computed hash of the data, with alg. EC signatures are the
// raw big-endian r||s, each padded to the curve size, as in JWS.
func (k *Key) Sign(alg string, digest []byte) ([]byte, error) {
	a, err := k.lookupSign(alg, digest)
	if err != nil {
		return nil, err
	}
	switch a.kind {
	case "pkcs1":
		return rsa.SignPKCS1v15(nil, k.signer.(*rsa.PrivateKey), a.hash, digest)
	case "pss":
		return rsa.SignPSS(rand.Reader, k.signer.(*rsa.PrivateKey), a.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		priv := k.signer.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
		if err != nil {
			return nil, err
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig, nil
	}
}

// Verify checks signature over digest with alg. A signature that does not match is (false,
// nil), which the data plane returns as {"value": false}; only bad parameters are errors.
func (k *Key) Verify(alg string, digest, signature []byte) (bool, error) {
	a, err := k.lookupSign(alg, digest)
	if err != nil {
		return false, err
	}
	switch a.kind {
	case "pkcs1":
		return rsa.VerifyPKCS1v15(&k.signer.(*rsa.PrivateKey).PublicKey, a.hash, digest, signature) == nil, nil
	case "pss":
		return rsa.VerifyPSS(&k.signer.(*rsa.PrivateKey).PublicKey, a.hash, digest, signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
	default:
		pub := &k.signer.(*ecdsa.PrivateKey).PublicKey
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(signature) != 2*size {
			return false, nil
		}
		r := new(big.Int).SetBytes(signature[:size])
		s := new(big.Int).SetBytes(signature[size:])
		return ecdsa.Verify(pub, digest, r, s), nil
	}
}
