// Package render turns Key Vault objects into the bytes of mounted files,
// as the AKS documentation's table says: a key becomes its public key PEM,
// a certificate its leaf PEM, and a secret backing a certificate the private
// key followed by the chain (leaf → root) in PEM, or the PFX. It does no I/O
// and never puts object content into an error.
package render

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound"
)

// Content types Key Vault stores on a certificate's backing secret.
const (
	ContentTypePEM    = "application/x-pem-file"
	ContentTypePKCS12 = "application/x-pkcs12"
)

// Secret is a fetched secret version.
type Secret struct {
	Value       string
	ContentType string
	// CertBacked is true when the secret backs a certificate (it has a kid).
	CertBacked bool
}

// SecretOptions control how a secret is rendered.
type SecretOptions struct {
	Format            string // pem|pfx
	Encoding          string // utf-8|hex|base64
	ConstructPEMChain bool
	// Strict refuses what is otherwise rendered as upstream does with a
	// warning (see RenderSecret).
	Strict bool
}

// WarningError is returned with SecretOptions.Strict for a setting that is
// otherwise rendered leniently; Field names the SecretProviderClass field.
type WarningError struct {
	Field, Msg string
}

func (e *WarningError) Error() string { return e.Msg }

// RenderSecret renders a secret's file contents. Two settings are rendered
// leniently and reported in warnings (one line each, naming the field and
// the fix; the caller adds the object):
//   - objectFormat pfx on a certificate stored as PEM: the stored PEM, as
//     upstream writes it;
//   - objectEncoding hex or base64 on a certificate rendered as PEM: the
//     encoding does not apply to the PEM kvcsi builds, so it is ignored
//     (upstream fails the mount with "illegal base64 data").
//
// With o.Strict they are a *WarningError instead.
func RenderSecret(s Secret, o SecretOptions) ([]byte, []Warning, error) {
	var warns []Warning
	warn := func(field, problem, done, fix string) error {
		if o.Strict {
			return &WarningError{Field: field, Msg: fmt.Sprintf("%s: %s (refused: the provider runs with --strict; without it kvcsi would have %s)", problem, fix, done)}
		}
		warns = append(warns, Warning{Field: field, Msg: fmt.Sprintf("%s; %s: %s", problem, done, fix)})
		return nil
	}
	pfxOfPEM := s.CertBacked && o.Format == "pfx" && strings.EqualFold(strings.TrimSpace(s.ContentType), ContentTypePEM)
	if pfxOfPEM {
		if err := warn("objectFormat", "objectFormat pfx asks for a PKCS#12, but the certificate is stored as PEM",
			"mounted the stored PEM, as upstream does", "remove objectFormat, or import the certificate as PKCS#12"); err != nil {
			return nil, nil, err
		}
	}
	if s.CertBacked && (o.Format != "pfx" || pfxOfPEM) {
		if o.Encoding == "hex" || o.Encoding == "base64" {
			if err := warn("objectEncoding", fmt.Sprintf("objectEncoding %s does not apply to a certificate rendered as PEM", o.Encoding),
				"mounted the PEM and ignored the encoding (upstream fails this mount)", "remove objectEncoding"); err != nil {
				return nil, nil, err
			}
		}
		b, err := certBackedPEM(s, o.ConstructPEMChain)
		return b, warns, err
	}
	if s.CertBacked && o.Format == "pfx" && !strings.EqualFold(strings.TrimSpace(s.ContentType), ContentTypePKCS12) {
		return nil, nil, fmt.Errorf("objectFormat pfx needs a certificate stored as PKCS#12, but its content type is %q: use objectFormat pem", s.ContentType)
	}
	b, err := decode(s.Value, o.Encoding)
	return b, warns, err
}

// Warning is a setting rendered leniently; see RenderSecret.
type Warning struct {
	Field, Msg string
}

func decode(v, encoding string) ([]byte, error) {
	switch encoding {
	case "hex":
		b, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, errors.New("the secret value is not valid hex: check objectEncoding")
		}
		return b, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, errors.New("the secret value is not valid standard base64: check objectEncoding")
		}
		return b, nil
	default:
		return []byte(v), nil
	}
}

func certBackedPEM(s Secret, constructChain bool) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(s.ContentType)) {
	case ContentTypePEM:
		return []byte(s.Value), nil // as uploaded
	case ContentTypePKCS12:
		pfx, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Value))
		if err != nil {
			return nil, errors.New("the certificate's PKCS#12 value is not valid base64")
		}
		return PFXToPEM(pfx, constructChain)
	case "":
		return nil, errors.New("the certificate's secret has no content type: re-import the certificate as PEM or PKCS#12")
	default:
		return nil, fmt.Errorf("the certificate's secret has unsupported content type %q: want %s or %s", s.ContentType, ContentTypePEM, ContentTypePKCS12)
	}
}

// PFXToPEM decodes a password-less PKCS#12 into the private key as PKCS#8
// "PRIVATE KEY" followed by the certificates, ordered leaf → root when
// constructChain is set.
func PFXToPEM(pfx []byte, constructChain bool) ([]byte, error) {
	// Bound the key derivations the file names before decoding it.
	if err := pkcs12bound.Check(pfx); err != nil {
		return nil, fmt.Errorf("the certificate's PKCS#12 is refused: %v", err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(pfx, "")
	if err != nil {
		return nil, fmt.Errorf("the certificate's PKCS#12 cannot be decoded with an empty password: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("the certificate's private key cannot be encoded as PKCS#8: %v", err)
	}
	var out bytes.Buffer
	_ = pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	certs := append([]*x509.Certificate{leaf}, cas...)
	if constructChain {
		certs = OrderChain(certs)
	}
	for _, c := range certs {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.Bytes(), nil
}

// issuedBy reports whether child names parent as its issuer: by AKI/SKI
// when both are present, else by issuer/subject names.
func issuedBy(child, parent *x509.Certificate) bool {
	if child == parent {
		return false
	}
	if len(child.AuthorityKeyId) > 0 && len(parent.SubjectKeyId) > 0 {
		return bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
	}
	return bytes.Equal(child.RawIssuer, parent.RawSubject)
}

// OrderChain orders certificates leaf → root. The leaf is the one certificate
// that issued none of the others. A self-signed root ends the chain (it is not
// a cycle). If the certificates do not form exactly one complete path, the
// input order is kept, as upstream does.
func OrderChain(certs []*x509.Certificate) []*x509.Certificate {
	if len(certs) < 2 {
		return certs
	}
	var leaves []*x509.Certificate
	for _, c := range certs {
		issuer := false
		for _, o := range certs {
			if issuedBy(o, c) {
				issuer = true
				break
			}
		}
		if !issuer {
			leaves = append(leaves, c)
		}
	}
	if len(leaves) != 1 {
		return certs
	}
	out := []*x509.Certificate{leaves[0]}
	used := map[*x509.Certificate]bool{leaves[0]: true}
	for cur := leaves[0]; len(out) < len(certs); {
		var next *x509.Certificate
		for _, c := range certs {
			if !used[c] && issuedBy(cur, c) {
				next = c
				break
			}
		}
		if next == nil {
			return certs
		}
		out = append(out, next)
		used[next] = true
		cur = next
	}
	return out
}

// JWK is the public part of a Key Vault key.
type JWK struct {
	Kty  string
	Crv  string
	N, E []byte
	X, Y []byte
}

// RenderKey renders an RSA or EC key's public key as a "PUBLIC KEY" PEM
// (SubjectPublicKeyInfo).
func RenderKey(k JWK) ([]byte, error) {
	var pub any
	switch k.Kty {
	case "RSA", "RSA-HSM":
		if len(k.N) == 0 || len(k.E) == 0 {
			return nil, errors.New("the RSA key has no modulus or exponent")
		}
		e := new(big.Int).SetBytes(k.E)
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("the RSA key's exponent is too large")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(e.Int64())}
	case "EC", "EC-HSM":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC curve %q is not supported: only P-256, P-384 and P-521 keys can be written as PEM", k.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(k.X) > size || len(k.Y) > size || len(k.X) == 0 || len(k.Y) == 0 {
			return nil, fmt.Errorf("the EC key's coordinates do not fit curve %s", k.Crv)
		}
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		copy(pt[1+size-len(k.X):1+size], k.X)
		copy(pt[1+2*size-len(k.Y):], k.Y)
		ec, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, fmt.Errorf("the EC key is not a point on curve %s: %v", k.Crv, err)
		}
		pub = ec
	default:
		return nil, fmt.Errorf("key type %q cannot be written as a public key PEM: only RSA, RSA-HSM, EC and EC-HSM keys are supported", k.Kty)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("the public key cannot be encoded: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// RenderCert renders a certificate's DER (Key Vault's cer) as one
// CERTIFICATE PEM block, without the chain.
func RenderCert(cer []byte) ([]byte, error) {
	if len(cer) == 0 {
		return nil, errors.New("the certificate has no content (cer is empty)")
	}
	if _, err := x509.ParseCertificate(cer); err != nil {
		return nil, fmt.Errorf("the certificate's cer is not a DER certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cer}), nil
}

// SplitCertAndKey splits PEM into the CERTIFICATE blocks (for <file>.crt)
// and all other blocks (for <file>.key), each keeping its order.
func SplitCertAndKey(data []byte) (crt, key []byte) {
	var c, k bytes.Buffer
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			_ = pem.Encode(&c, b)
		} else {
			_ = pem.Encode(&k, b)
		}
	}
	return c.Bytes(), k.Bytes()
}
