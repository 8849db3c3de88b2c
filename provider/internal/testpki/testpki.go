// Package testpki makes certificate chains (root → intermediate → leaf) for
// the provider's tests, with SKI/AKI set as real CAs set them.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Chain is a three-certificate chain with the leaf's key.
type Chain struct {
	Root, Intermediate, Leaf *x509.Certificate
	LeafKey                  crypto.Signer
}

// Certs are the chain leaf → root.
func (c *Chain) Certs() []*x509.Certificate {
	return []*x509.Certificate{c.Leaf, c.Intermediate, c.Root}
}

// New makes a fresh chain with P-256 keys.
func New() (*Chain, error) {
	mk := func(cn string, ca bool, parent *x509.Certificate, parentKey crypto.Signer, serial int64) (*x509.Certificate, crypto.Signer, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			BasicConstraintsValid: true,
			IsCA:                  ca,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		if !ca {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
			tmpl.DNSNames = []string{cn}
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			return nil, nil, err
		}
		c, err := x509.ParseCertificate(der)
		return c, key, err
	}
	root, rootKey, err := mk("Test Root CA", true, nil, nil, 1)
	if err != nil {
		return nil, err
	}
	inter, interKey, err := mk("Test Intermediate CA", true, root, rootKey, 2)
	if err != nil {
		return nil, err
	}
	leaf, leafKey, err := mk("leaf.example.com", false, inter, interKey, 3)
	if err != nil {
		return nil, err
	}
	return &Chain{Root: root, Intermediate: inter, Leaf: leaf, LeafKey: leafKey}, nil
}

// PFX encodes the leaf key with certs in the given order (the first
// certificate matching the key becomes the PKCS#12 leaf) without password.
func (c *Chain) PFX(order []*x509.Certificate) ([]byte, error) {
	var others []*x509.Certificate
	for _, o := range order {
		if o != c.Leaf {
			others = append(others, o)
		}
	}
	return pkcs12.Modern.Encode(c.LeafKey, c.Leaf, others, "")
}

// PFXBase64 is PFX as Key Vault stores it in a certificate's secret.
func (c *Chain) PFXBase64(order []*x509.Certificate) (string, error) {
	b, err := c.PFX(order)
	return base64.StdEncoding.EncodeToString(b), err
}

// PEM is the PKCS#8 key followed by certs in the given order.
func (c *Chain) PEM(order []*x509.Certificate) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.LeafKey)
	if err != nil {
		return "", err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, o := range order {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Raw})...)
	}
	return string(out), nil
}

// Permutations are the six orders of three certificates.
func Permutations(a, b, c *x509.Certificate) [][]*x509.Certificate {
	return [][]*x509.Certificate{{a, b, c}, {a, c, b}, {b, a, c}, {b, c, a}, {c, a, b}, {c, b, a}}
}
