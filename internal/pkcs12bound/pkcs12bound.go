// Package pkcs12bound refuses a PKCS#12 (PFX) whose key derivations would
// cost more than a bound, before anything decodes it. A PFX names its own
// MAC and PBE/PBKDF2 iteration counts; the decoder runs them as given, so a
// file with 2^31-1 iterations costs minutes of CPU per decode (issue 10 §2).
// Check reads the counts from the ASN.1 structure without deriving any key.
//
// What Check sees: the MAC (classic PKCS#12 MAC and PBMAC1), the encryption
// of every encryptedData in the authenticated safe, and every shrouded key
// bag, in a plain SafeContents or inside an encryptedData: once an
// encryptedData's own count is within the bound, Check decrypts it with the
// password the decoder will use (the same algorithms the decoder supports)
// to read the bags inside. An encryptedData Check cannot decrypt is one the
// decoder cannot decrypt either, so its bags are never reached.
package pkcs12bound

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// MaxIterations is the largest MAC or key-derivation iteration count
// accepted. Key Vault's own certificates use 2,048 or fewer and OpenSSL's
// default is 2,048; 1,000,000 is generous and still decodes in well under a
// second.
const MaxIterations = 1_000_000

// MaxSize is the largest PFX accepted, in bytes: Key Vault secret values are
// at most 25 KiB and Kubernetes Secrets at most 1 MiB.
const MaxSize = 1 << 20

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	// pbeWithSHAAnd* (RFC 7292 appendix C): 1.2.840.113549.1.12.1.1–6.
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

type pfxPdu struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type macData struct {
	Mac        digestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type digestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type safeBag struct {
	Id         asn1.ObjectIdentifier
	Value      asn1.RawValue   `asn1:"tag:0,explicit"`
	Attributes []asn1.RawValue `asn1:"set,optional"`
}

type encryptedPrivateKeyInfo struct {
	AlgorithmIdentifier pkix.AlgorithmIdentifier
	EncryptedData       []byte
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	Kdf              pkix.AlgorithmIdentifier
	EncryptionScheme pkix.AlgorithmIdentifier
}

type pbmac1Params struct {
	Kdf    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	Prf        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// Error is a refused PFX.
type Error struct {
	// Where names the structure, e.g. "MAC".
	Where string
	// Iterations is the count found (0 for a size or structure refusal).
	Iterations int
	msg        string
}

func (e *Error) Error() string { return e.msg }

func tooMany(where string, n int) error {
	return &Error{Where: where, Iterations: n, msg: fmt.Sprintf(
		"the PKCS#12 %s uses %d iterations, more than the bound of %d: re-export the certificate with at most %d iterations (Key Vault's own use 2048)",
		where, n, MaxIterations, MaxIterations)}
}

// A structure that does not parse is not Check's to refuse: the decoder
// parses the same structures with the same types and fails there before
// deriving anything from it, with its own message. Check skips it and
// goes on with the rest (the decoder decrypts every encryptedData before it
// reads any key bag, so a broken bag must not hide a later count).

// Check is CheckPassword with the empty password, which every kvcsi decode
// of a Key Vault certificate uses.
func Check(pfx []byte) error { return CheckPassword(pfx, "") }

// CheckPassword returns an *Error when pfx (DER) is larger than MaxSize or
// names an iteration count above MaxIterations, and nil otherwise; password
// is the one the decoder will be given. Its work is bounded: at most the
// derivations of the encryptedData it decrypts, each within the bound. A
// structure it does not know is left to the decoder, which refuses it too.
func CheckPassword(pfx []byte, password string) error {
	if len(pfx) > MaxSize {
		return &Error{Where: "file", msg: fmt.Sprintf("the PKCS#12 is %d bytes, more than the bound of %d bytes", len(pfx), MaxSize)}
	}
	var p pfxPdu
	if _, err := asn1.Unmarshal(pfx, &p); err != nil {
		return nil
	}
	if len(p.MacData.Mac.Algorithm.Algorithm) > 0 {
		if p.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			var pm pbmac1Params
			if _, err := asn1.Unmarshal(p.MacData.Mac.Algorithm.Parameters.FullBytes, &pm); err != nil {
				return nil
			}
			if err := checkPBKDF2("MAC (PBMAC1)", pm.Kdf); err != nil {
				return err
			}
		} else if p.MacData.Iterations > MaxIterations {
			return tooMany("MAC", p.MacData.Iterations)
		}
	}
	if !p.AuthSafe.ContentType.Equal(oidData) {
		return nil // the decoder supports only password-protected (data) PFX
	}
	// As the decoder: the explicit content is one element (an OCTET
	// STRING) whose bytes are the AuthenticatedSafe.
	var authSafe asn1.RawValue
	if _, err := asn1.Unmarshal(p.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil
	}
	var safe []contentInfo
	if _, err := asn1.Unmarshal(authSafe.Bytes, &safe); err != nil {
		return nil
	}
	// DecodeChain (every kvcsi decode) refuses an authenticated safe of
	// more than two items before decrypting any; so does Check, leaving the
	// refusal to it, so a file of many encryptedData costs nothing here.
	if len(safe) > 2 {
		return nil
	}
	for i, ci := range safe {
		switch {
		case ci.ContentType.Equal(oidData):
			var data []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &data); err != nil {
				continue
			}
			var bags []safeBag
			if _, err := asn1.Unmarshal(data, &bags); err != nil {
				continue
			}
			if err := checkBags("shrouded key bag encryption", bags); err != nil {
				return err
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				continue
			}
			alg := ed.EncryptedContentInfo.ContentEncryptionAlgorithm
			if err := checkAlgorithm(fmt.Sprintf("encryptedData %d encryption", i), alg); err != nil {
				return err
			}
			if err := checkEncryptedBags(i, alg, password, ed.EncryptedContentInfo.EncryptedContent); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkBags(where string, bags []safeBag) error {
	for _, b := range bags {
		if !b.Id.Equal(oidShroudedKey) {
			continue
		}
		var k encryptedPrivateKeyInfo
		if _, err := asn1.Unmarshal(b.Value.Bytes, &k); err != nil {
			continue
		}
		if err := checkAlgorithm(where, k.AlgorithmIdentifier); err != nil {
			return err
		}
	}
	return nil
}

// checkEncryptedBags decrypts encryptedData i as the decoder would (the
// PKCS#12 password encoding; for the empty password also the empty byte
// string the decoder falls back to) and bounds the shrouded key bags inside.
func checkEncryptedBags(i int, alg pkix.AlgorithmIdentifier, password string, data []byte) error {
	passes := [][]byte{bmpPassword(password)}
	if password == "" {
		passes = append(passes, nil)
	}
	for _, p := range passes {
		plain, err := decrypt(alg, password, p, data)
		if err != nil {
			continue
		}
		var bags []safeBag
		if _, err := asn1.Unmarshal(plain, &bags); err != nil {
			continue
		}
		// The first password that decrypts is the decoder's too.
		return checkBags(fmt.Sprintf("shrouded key bag encryption (inside encryptedData %d)", i), bags)
	}
	return nil
}

// checkAlgorithm bounds a PKCS#12 PBE or PBES2 algorithm's iterations;
// other algorithms are the decoder's to refuse.
func checkAlgorithm(where string, alg pkix.AlgorithmIdentifier) error {
	switch {
	case len(alg.Algorithm) == len(oidPKCS12PBE)+1 && alg.Algorithm[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var pp pbeParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
			return nil
		}
		if pp.Iterations > MaxIterations {
			return tooMany(where, pp.Iterations)
		}
	case alg.Algorithm.Equal(oidPBES2):
		var pp pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
			return nil
		}
		return checkPBKDF2(where+" (PBES2)", pp.Kdf)
	}
	return nil
}

func checkPBKDF2(where string, kdf pkix.AlgorithmIdentifier) error {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &kp); err != nil {
		return nil
	}
	if kp.Iterations > MaxIterations {
		return tooMany(where, kp.Iterations)
	}
	return nil
}
