package scenarios

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// chain is a three-level certificate chain (root → intermediate → leaf) with
// the leaf's RSA key, packed as a password-protected PKCS#12, as users import
// into Key Vault.
type chain struct {
	Leaf, Intermediate, Root *x509.Certificate
	Key                      *rsa.PrivateKey
	PFX                      []byte
	Password                 string
}

func newChain(cn string) (*chain, error) {
	now := time.Now().Add(-time.Hour)
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now, NotAfter: now.Add(48 * time.Hour),
			IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
	}
	rootT := ca(1, cn+" root")
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, _ := x509.ParseCertificate(rootDER)
	interDER, err := x509.CreateCertificate(rand.Reader, ca(2, cn+" intermediate"), root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	inter, _ := x509.ParseCertificate(interDER)
	leafT := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafT, inter, &leafKey.PublicKey, interKey)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	const password = "kvcsi-scenario"
	// Legacy-compatible encryption (3DES, SHA-1 MAC), as `openssl pkcs12
	// -legacy` and the Azure documentation's examples: Key Vault's import of
	// AES/PBKDF2 (PKCS#12 "Modern") files is not confirmed.
	pfx, err := pkcs12.LegacyDES.Encode(leafKey, leaf, []*x509.Certificate{inter, root}, password)
	if err != nil {
		return nil, err
	}
	return &chain{Leaf: leaf, Intermediate: inter, Root: root, Key: leafKey, PFX: pfx, Password: password}, nil
}
