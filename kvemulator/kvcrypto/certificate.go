package kvcrypto

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"slices"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound"
)

// Certificate is one certificate version: its private key and its chain, leaf first.
type Certificate struct {
	Key   *Key
	Chain []*x509.Certificate
}

// Leaf is the certificate itself.
func (c *Certificate) Leaf() *x509.Certificate { return c.Chain[0] }

// CER is the leaf's DER, the "cer" member of a certificate bundle.
func (c *Certificate) CER() []byte { return c.Leaf().Raw }

// X5T is the leaf's SHA-1 thumbprint; on the wire it is base64url without padding.
func (c *Certificate) X5T() []byte {
	sum := sha1.Sum(c.Leaf().Raw)
	return sum[:]
}

// SecretValue renders the backing secret's value for contentType: standard base64 of a PFX
// without password for application/x-pkcs12, or PEM (PKCS#8 "PRIVATE KEY" first, then the
// chain leaf first) for application/x-pem-file. Without exportable, the key is left out, as
// Key Vault does for non-exportable keys.
func (c *Certificate) SecretValue(contentType string, exportable bool) (string, error) {
	switch contentType {
	case ContentTypePKCS12, "":
		var pfx []byte
		var err error
		if exportable {
			pfx, err = pkcs12.LegacyDES.Encode(c.Key.Signer(), c.Leaf(), c.Chain[1:], "")
		} else {
			pfx, err = pkcs12.LegacyDES.EncodeTrustStore(c.Chain, "")
		}
		if err != nil {
			return "", fmt.Errorf("encode PFX: %w", err)
		}
		return base64.StdEncoding.EncodeToString(pfx), nil
	case ContentTypePEM:
		var b bytes.Buffer
		if exportable {
			der, err := x509.MarshalPKCS8PrivateKey(c.Key.Signer())
			if err != nil {
				return "", fmt.Errorf("encode key: %w", err)
			}
			_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}
		for _, cert := range c.Chain {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		}
		return b.String(), nil
	default:
		return "", badParam("policy.secret_props.contentType", "content type %q is not supported: use application/x-pkcs12 or application/x-pem-file", contentType)
	}
}

var keyUsageBits = map[string]x509.KeyUsage{
	"digitalSignature": x509.KeyUsageDigitalSignature,
	"nonRepudiation":   x509.KeyUsageContentCommitment,
	"keyEncipherment":  x509.KeyUsageKeyEncipherment,
	"dataEncipherment": x509.KeyUsageDataEncipherment,
	"keyAgreement":     x509.KeyUsageKeyAgreement,
	"keyCertSign":      x509.KeyUsageCertSign,
	"cRLSign":          x509.KeyUsageCRLSign,
	"encipherOnly":     x509.KeyUsageEncipherOnly,
	"decipherOnly":     x509.KeyUsageDecipherOnly,
}

var (
	oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidEKU = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

// KeyOptions turns a normalized policy's key_props into key generation options.
func (p *Policy) KeyOptions() GenerateOptions {
	return GenerateOptions{Kty: p.KeyProps.Kty, Size: p.KeyProps.KeySize, Curve: p.KeyProps.Curve}
}

// CreateSelfSigned issues a self-signed certificate for key from a policy normalized by
// Normalize, valid from now for the policy's validity_months.
func CreateSelfSigned(p *Policy, key *Key, now time.Time) (*Certificate, error) {
	x := p.X509Props
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	notBefore := now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    notBefore,
		NotAfter:     notBefore.AddDate(0, x.ValidityMonths, 0),
	}
	raw, sans, err := subjectAndSANs(x)
	if err != nil {
		return nil, err
	}
	tmpl.RawSubject, tmpl.ExtraExtensions = raw, sans
	for _, u := range x.KeyUsage {
		tmpl.KeyUsage |= keyUsageBits[u]
	}
	for _, e := range x.EKUs {
		oid, _ := parseOID(e)
		tmpl.UnknownExtKeyUsage = append(tmpl.UnknownExtKeyUsage, oid)
	}
	tmpl.SubjectKeyId = subjectKeyID(key.Public())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key.Signer())
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Certificate{Key: key, Chain: []*x509.Certificate{leaf}}, nil
}

// sanExtension encodes DNS names, e-mails and UPNs (as otherName 1.3.6.1.4.1.311.20.2.3, the
// way Windows and Key Vault write them); critical when the subject is empty (RFC 5280).
func sanExtension(s *SANs, critical bool) (pkix.Extension, error) {
	var names []asn1.RawValue
	for _, e := range s.Emails {
		if _, err := mail.ParseAddress(e); err != nil {
			return pkix.Extension{}, badParam("policy.x509_props.sans.emails", "policy.x509_props.sans.emails value %q is not an e-mail address", e)
		}
		names = append(names, asn1.RawValue{Tag: 1, Class: asn1.ClassContextSpecific, Bytes: []byte(e)})
	}
	for _, d := range s.DNSNames {
		names = append(names, asn1.RawValue{Tag: 2, Class: asn1.ClassContextSpecific, Bytes: []byte(d)})
	}
	for _, u := range s.UPNs {
		val, err := asn1.MarshalWithParams(u, "utf8")
		if err != nil {
			return pkix.Extension{}, badParam("policy.x509_props.sans.upns", "policy.x509_props.sans.upns value %q cannot be encoded", u)
		}
		inner, _ := asn1.Marshal(struct {
			ID    asn1.ObjectIdentifier
			Value asn1.RawValue `asn1:"tag:0,explicit"`
		}{oidUPN, asn1.RawValue{FullBytes: val}})
		// otherName is [0] IMPLICIT: re-tag the SEQUENCE as context-specific constructed 0.
		var seq asn1.RawValue
		_, _ = asn1.Unmarshal(inner, &seq)
		names = append(names, asn1.RawValue{Tag: 0, Class: asn1.ClassContextSpecific, IsCompound: true, Bytes: seq.Bytes})
	}
	val, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSAN, Critical: critical, Value: val}, nil
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits (RFC 5280 method 1), so chain
// builders that match SKI/AKI (the provider's --construct-pem-chain) work.
func subjectKeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:]
}

// ImportCertificate decodes the value of an import-certificate request: a base64 PFX
// (password in pwd, possibly empty) or PEM text with a private key and certificates.
// contentType is the policy's secret_props.contentType ("" detects it from the value). It
// returns the certificate and the content type to store the backing secret with.
func ImportCertificate(value, password, contentType string) (*Certificate, string, error) {
	trimmed := strings.TrimSpace(value)
	if trimmed == "" {
		return nil, "", badParam("value", "value is required: send the base64 PFX or the PEM text of the certificate with its private key")
	}
	isPEM := strings.HasPrefix(trimmed, "-----BEGIN")
	if !isPEM && contentType == ContentTypePEM {
		// The Python and .NET clients send the bytes of a .pem file base64
		// encoded, as they do a PFX; the service takes both forms.
		if b, err := DecodeBase64(strings.Join(strings.Fields(trimmed), "")); err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "-----BEGIN") {
			trimmed, isPEM = strings.TrimSpace(string(b)), true
		}
	}
	switch contentType {
	case "":
		contentType = ContentTypePKCS12
		if isPEM {
			contentType = ContentTypePEM
		}
	case ContentTypePKCS12:
		if isPEM {
			return nil, "", badParam("value", "value is PEM but policy.secret_props.contentType is application/x-pkcs12: set contentType to application/x-pem-file to import PEM")
		}
	case ContentTypePEM:
		if !isPEM {
			return nil, "", badParam("value", "policy.secret_props.contentType is application/x-pem-file but value is not PEM: send the PEM text, or use application/x-pkcs12 for a base64 PFX")
		}
	default:
		return nil, "", badParam("policy.secret_props.contentType", "policy.secret_props.contentType %q is not supported: use application/x-pkcs12 or application/x-pem-file", contentType)
	}
	var c *Certificate
	var err error
	if isPEM {
		c, err = importPEM(trimmed)
	} else {
		c, err = importPFX(trimmed, password)
	}
	if err != nil {
		return nil, "", err
	}
	return c, contentType, nil
}

func importPFX(value, password string) (*Certificate, error) {
	der, err := DecodeBase64(strings.Join(strings.Fields(value), ""))
	if err != nil {
		return nil, badParam("value", "value is neither PEM nor valid base64: send the PFX as base64 or the PEM text")
	}
	if err := pkcs12bound.CheckPassword(der, password); err != nil {
		return nil, badParam("value", "value is not an acceptable PFX: %v", err)
	}
	priv, leaf, cas, err := pkcs12.DecodeChain(der, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			if password == "" {
				return nil, badParam("pwd", "the PFX is password protected: pass its password in pwd")
			}
			return nil, badParam("pwd", "the PFX password in pwd is incorrect")
		}
		return nil, badParam("value", "value is not a valid PFX (PKCS#12) with one private key and its certificate: %s", strings.TrimPrefix(err.Error(), "pkcs12: "))
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, badParam("value", "the PFX's private key type %T is not supported: use an RSA or EC key", priv)
	}
	return assemble(signer, append([]*x509.Certificate{leaf}, cas...))
}

func importPEM(value string) (*Certificate, error) {
	rest := []byte(value)
	var signer crypto.Signer
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, badParam("value", "certificate %d in the PEM cannot be parsed: %v", len(certs)+1, err)
			}
			certs = append(certs, cert)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if signer != nil {
				return nil, badParam("value", "the PEM has more than one private key: keep only the certificate's key")
			}
			s, err := parsePrivateKey(block)
			if err != nil {
				return nil, err
			}
			signer = s
		case "ENCRYPTED PRIVATE KEY":
			return nil, badParam("value", "the PEM private key is encrypted: import an unencrypted PKCS#8 key (\"BEGIN PRIVATE KEY\"), or a password-protected PFX")
		default:
			return nil, badParam("value", "the PEM has an unexpected %q block: send a PKCS#8 \"PRIVATE KEY\" and \"CERTIFICATE\" blocks", block.Type)
		}
	}
	if len(certs) == 0 {
		return nil, badParam("value", "the PEM has no CERTIFICATE block: send the certificate with its private key")
	}
	if signer == nil {
		return nil, badParam("value", "the PEM has no private key: add the certificate's key as a PKCS#8 \"PRIVATE KEY\" block")
	}
	return assemble(signer, certs)
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, badParam("value", "the PEM private key cannot be parsed: %v", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, badParam("value", "the private key type %T is not supported: use an RSA or EC key", key)
	}
	return s, nil
}

// assemble finds the certificate whose public key matches signer, puts it first, and checks the
// key is one Key Vault supports.
func assemble(signer crypto.Signer, certs []*x509.Certificate) (*Certificate, error) {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := signer.Public().(equaler)
	if !ok {
		return nil, badParam("value", "the private key type %T is not supported: use an RSA or EC key", signer)
	}
	i := slices.IndexFunc(certs, func(c *x509.Certificate) bool { return pub.Equal(c.PublicKey) })
	if i < 0 {
		return nil, badParam("value", "the private key does not belong to any of the certificates: import the key that matches the certificate")
	}
	chain := append([]*x509.Certificate{certs[i]}, slices.Delete(slices.Clone(certs), i, i+1)...)
	key, err := FromSigner(signer)
	if err != nil {
		return nil, err
	}
	return &Certificate{Key: key, Chain: chain}, nil
}

// PolicyFor describes an imported certificate as Key Vault does: the key's properties, the
// content type, the subject, SANs, usages and validity of the leaf, and issuer "Unknown".
func PolicyFor(c *Certificate, contentType string, exportable bool) *Policy {
	leaf := c.Leaf()
	kp := &PolicyKeyProps{Exportable: ptr(exportable), Kty: c.Key.Kty(), ReuseKey: ptr(false)}
	if c.Key.Size() > 0 {
		kp.KeySize = c.Key.Size()
	} else {
		kp.Curve = c.Key.Curve()
	}
	x := &X509Props{Subject: FormatSubject(leaf.RawSubject)}
	if len(leaf.DNSNames)+len(leaf.EmailAddresses) > 0 {
		x.SANs = &SANs{DNSNames: leaf.DNSNames, Emails: leaf.EmailAddresses}
	}
	for _, name := range keyUsageNames {
		if leaf.KeyUsage&keyUsageBits[name] != 0 {
			x.KeyUsage = append(x.KeyUsage, name)
		}
	}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidEKU) {
			var oids []asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(ext.Value, &oids); err == nil {
				for _, o := range oids {
					x.EKUs = append(x.EKUs, o.String())
				}
			}
		}
	}
	months := 0
	for leaf.NotBefore.AddDate(0, months+1, 0).Compare(leaf.NotAfter) <= 0 {
		months++
	}
	if months == 0 {
		months = 1
	}
	x.ValidityMonths = months
	return &Policy{
		KeyProps:        kp,
		SecretProps:     &SecretProps{ContentType: contentType},
		X509Props:       x,
		LifetimeActions: []LifetimeAction{{Trigger: LifetimeTrigger{LifetimePercentage: 80}, Action: LifetimeType{ActionType: "EmailContacts"}}},
		Issuer:          &IssuerParams{Name: IssuerUnknown},
	}
}

// CSR builds the certificate signing request Key Vault shows in a pending certificate
// operation ("csr"): the policy's subject, SANs, key usage and EKUs, signed by key.
func CSR(p *Policy, key *Key) ([]byte, error) {
	raw, sans, err := subjectAndSANs(p.X509Props)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{RawSubject: raw, ExtraExtensions: sans}
	return x509.CreateCertificateRequest(rand.Reader, tmpl, key.Signer())
}

// subjectAndSANs encodes the policy's subject (DER) and its SAN extension, if any.
func subjectAndSANs(x *X509Props) (rawSubject []byte, exts []pkix.Extension, err error) {
	if x.Subject != "" {
		seq, err := ParseSubject(x.Subject)
		if err != nil {
			return nil, nil, err
		}
		if rawSubject, err = asn1.Marshal(seq); err != nil {
			return nil, nil, badParam("policy.x509_props.subject", "policy.x509_props.subject %q cannot be encoded: %v", x.Subject, err)
		}
	}
	if x.SANs != nil {
		ext, err := sanExtension(x.SANs, len(rawSubject) == 0)
		if err != nil {
			return nil, nil, err
		}
		exts = append(exts, ext)
	}
	return rawSubject, exts, nil
}
