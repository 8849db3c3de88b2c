package secretsync

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound"
)

// Keys a kubernetes.io/tls Secret may hold. ca.crt is accepted in addition to the two keys the
// API server requires, because ingress controllers and service meshes read it (upstream rejects
// it, issue #1009).
const (
	keyTLSCert = "tls.crt"
	keyTLSKey  = "tls.key"
	keyCACert  = "ca.crt"
)

// errNoPrivateKey and errNoCertificate are matched by the validation messages that name the
// object and the SecretProviderClass.
var (
	errNoPrivateKey  = errors.New("has no private key: tls.key needs a PEM PRIVATE KEY block or a PKCS#12 with a key (a Key Vault certificate's key comes with objectType: secret, not cert)")
	errNoCertificate = errors.New("has no certificate: tls.crt and ca.crt need PEM CERTIFICATE blocks or a PKCS#12")
)

// bundle is a mounted object taken apart: its certificates in file order and its private keys.
type bundle struct {
	certs []*x509.Certificate
	keys  []any
}

// tlsPart returns what the data key of a kubernetes.io/tls Secret holds, taken from one mounted
// object. The object is PEM (the provider's rendering of a certificate-backed secret: key(s) then
// the chain) or PKCS#12, raw or base64 as the provider's objectFormat: pfx writes it.
//   - tls.crt: every certificate, in file order, as PEM.
//   - tls.key: the last private key, re-encoded the way kubectl and ingress controllers expect:
//     RSA as PKCS#1, ECDSA as SEC1, anything else as PKCS#8.
//   - ca.crt: the CA certificates (basic constraints CA:TRUE); every certificate when none is a CA,
//     so an object that holds a single root or a non-CA trust anchor works too.
func tlsPart(content []byte, key string) ([]byte, error) {
	b, err := parseBundle(content, key == keyTLSKey)
	if err != nil {
		return nil, err
	}
	switch key {
	case keyTLSCert:
		if len(b.certs) == 0 {
			return nil, errNoCertificate
		}
		return encodeCerts(b.certs), nil
	case keyCACert:
		if len(b.certs) == 0 {
			return nil, errNoCertificate
		}
		var cas []*x509.Certificate
		for _, c := range b.certs {
			if c.IsCA {
				cas = append(cas, c)
			}
		}
		if len(cas) == 0 {
			cas = b.certs
		}
		return encodeCerts(cas), nil
	case keyTLSKey:
		if len(b.keys) == 0 {
			return nil, errNoPrivateKey
		}
		return encodeKey(b.keys[len(b.keys)-1])
	}
	return nil, fmt.Errorf("key %q is not allowed in a kubernetes.io/tls Secret: use %s, %s or %s", key, keyTLSCert, keyTLSKey, keyCACert)
}

// parseBundle reads PEM first; content without any PEM block is tried as PKCS#12, as is and
// base64-decoded, with the empty password Key Vault uses for exported certificates. Private keys
// are parsed only when withKeys is set: that is the costly part (RSA precomputation), and
// tls.crt and ca.crt do not need it.
func parseBundle(content []byte, withKeys bool) (bundle, error) {
	var b bundle
	rest := content
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return b, fmt.Errorf("CERTIFICATE block %d is not a valid certificate: %w", len(b.certs)+1, err)
			}
			b.certs = append(b.certs, c)
		case !withKeys:
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return b, errors.New("holds an encrypted private key, which cannot be written to a Secret; store the key unencrypted in Key Vault")
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			k, err := parsePrivateKey(block)
			if err != nil {
				return b, err
			}
			b.keys = append(b.keys, k)
		}
	}
	if sawPEM {
		return b, nil
	}
	return parsePKCS12(content)
}

func parsePrivateKey(block *pem.Block) (any, error) {
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		// The parse error never contains key bytes, only the ASN.1 structure that failed.
		return nil, fmt.Errorf("%s block is not a valid private key: %w", block.Type, err)
	}
	return k, nil
}

func parsePKCS12(content []byte) (bundle, error) {
	candidates := [][]byte{content}
	trimmed := bytes.TrimSpace(content)
	if dec, err := base64.StdEncoding.DecodeString(string(trimmed)); err == nil {
		candidates = append([][]byte{dec}, candidates...)
	}
	var lastErr error
	for _, c := range candidates {
		if be := (*pkcs12bound.Error)(nil); errors.As(pkcs12bound.Check(c), &be) && be.Iterations > 0 {
			return bundle{}, fmt.Errorf("is a PKCS#12 that is refused: %w", be)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(c, "")
		if err != nil {
			lastErr = err
			continue
		}
		b := bundle{certs: append([]*x509.Certificate{leaf}, cas...)}
		if key != nil {
			b.keys = []any{key}
		}
		return b, nil
	}
	return bundle{}, fmt.Errorf("is neither PEM nor a PKCS#12 without password: %w", lastErr)
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var out bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.Bytes()
}

func encodeKey(k any) ([]byte, error) {
	var block *pem.Block
	switch key := k.(type) {
	case *rsa.PrivateKey:
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("re-encoding the ECDSA key: %w", err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	case ed25519.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("re-encoding the Ed25519 key: %w", err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	default:
		return nil, fmt.Errorf("private key of type %T is not supported; use RSA, ECDSA or Ed25519", k)
	}
	return pem.EncodeToMemory(block), nil
}
