// Package pkcs12boundtest crafts hostile PKCS#12 files for tests: a real
// PFX whose iteration counts are rewritten in the ASN.1, so no test ever
// runs the derivations it names.
package pkcs12boundtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Huge is 2^31-1, the count of the PFX in issue 10 (about ten minutes of
// CPU per decode).
const Huge = 1<<31 - 1

// Where names an iteration count to rewrite.
type Where int

const (
	// MAC is the MacData iteration count.
	MAC Where = iota
	// EncryptedData is the PBE/PBES2 count of every encryptedData.
	EncryptedData
	// ShroudedKey is the PBE/PBES2 count of every shrouded key bag in a
	// plain SafeContents.
	ShroudedKey
)

// PFX returns a PFX (empty password) of a fresh self-signed EC certificate
// and its key, encoded by enc (e.g. pkcs12.LegacyDES, pkcs12.Modern).
func PFX(enc *pkcs12.Encoder) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pkcs12bound"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return enc.Encode(key, cert, nil, "")
}

// Hostile returns a LegacyDES PFX (empty password) whose count at where is n.
func Hostile(where Where, n int) ([]byte, error) {
	pfx, err := PFX(pkcs12.LegacyDES)
	if err != nil {
		return nil, err
	}
	return WithIterations(pfx, where, n)
}

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
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type encryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type safeBag struct {
	Id         asn1.ObjectIdentifier
	Value      asn1.RawValue   `asn1:"tag:0,explicit"`
	Attributes []asn1.RawValue `asn1:"set,optional"`
}

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	Kdf, Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	Prf        pkix.AlgorithmIdentifier `asn1:"optional"`
}

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
)

// explicit0 wraps an encoded element in [0] EXPLICIT: a RawValue field
// with an explicit tag holds (and is written back as) the whole [0] element.
func explicit0(b []byte) asn1.RawValue {
	full, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b})
	if err != nil {
		panic(err)
	}
	return asn1.RawValue{FullBytes: full}
}

func octets(b []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagOctetString, Bytes: b}
}

// WithIterations rewrites the iteration count(s) at where to n and
// re-encodes the PFX; the MAC no longer matches when the content changed,
// which a bound that refuses before decoding never notices.
func WithIterations(pfx []byte, where Where, n int) ([]byte, error) {
	var p pfxPdu
	if _, err := asn1.Unmarshal(pfx, &p); err != nil {
		return nil, err
	}
	if where == MAC {
		p.MacData.Iterations = n
		return asn1.Marshal(p)
	}
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(p.AuthSafe.Content.Bytes, &outer); err != nil {
		return nil, err
	}
	var safe []contentInfo
	if _, err := asn1.Unmarshal(outer.Bytes, &safe); err != nil {
		return nil, err
	}
	found := false
	for i, ci := range safe {
		switch {
		case where == EncryptedData && ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, err
			}
			alg, err := algWithIterations(ed.Info.Algorithm, n)
			if err != nil {
				return nil, err
			}
			ed.Info.Algorithm = alg
			b, err := asn1.Marshal(ed)
			if err != nil {
				return nil, err
			}
			safe[i].Content = explicit0(b)
			found = true
		case where == ShroudedKey && ci.ContentType.Equal(oidData):
			var data []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &data); err != nil {
				return nil, err
			}
			var bags []safeBag
			if _, err := asn1.Unmarshal(data, &bags); err != nil {
				return nil, err
			}
			for j, bag := range bags {
				if !bag.Id.Equal(oidShroudedKey) {
					continue
				}
				var k encryptedPrivateKeyInfo
				if _, err := asn1.Unmarshal(bag.Value.Bytes, &k); err != nil {
					return nil, err
				}
				alg, err := algWithIterations(k.Algorithm, n)
				if err != nil {
					return nil, err
				}
				k.Algorithm = alg
				b, err := asn1.Marshal(k)
				if err != nil {
					return nil, err
				}
				bags[j].Value = explicit0(b)
				found = true
			}
			sb, err := asn1.Marshal(bags)
			if err != nil {
				return nil, err
			}
			ob, err := asn1.Marshal(sb)
			if err != nil {
				return nil, err
			}
			safe[i].Content = explicit0(ob)
		}
	}
	if !found {
		return nil, fmt.Errorf("the PFX has no %v to rewrite", where)
	}
	sb, err := asn1.Marshal(safe)
	if err != nil {
		return nil, err
	}
	ob, err := asn1.Marshal(octets(sb))
	if err != nil {
		return nil, err
	}
	p.AuthSafe.Content = explicit0(ob)
	return asn1.Marshal(p)
}

func algWithIterations(alg pkix.AlgorithmIdentifier, n int) (pkix.AlgorithmIdentifier, error) {
	if alg.Algorithm.Equal(oidPBES2) {
		var pp pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
			return alg, err
		}
		var kp pbkdf2Params
		if _, err := asn1.Unmarshal(pp.Kdf.Parameters.FullBytes, &kp); err != nil {
			return alg, err
		}
		kp.Iterations = n
		b, err := asn1.Marshal(kp)
		if err != nil {
			return alg, err
		}
		pp.Kdf.Parameters = asn1.RawValue{FullBytes: b}
		if b, err = asn1.Marshal(pp); err != nil {
			return alg, err
		}
		alg.Parameters = asn1.RawValue{FullBytes: b}
		return alg, nil
	}
	var pp pbeParams
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
		return alg, err
	}
	pp.Iterations = n
	b, err := asn1.Marshal(pp)
	if err != nil {
		return alg, err
	}
	alg.Parameters = asn1.RawValue{FullBytes: b}
	return alg, nil
}
