package kvcrypto

import (
	"encoding/asn1"
	"slices"
	"strings"
)

// Content types of a certificate's backing secret.
const (
	ContentTypePKCS12 = "application/x-pkcs12"
	ContentTypePEM    = "application/x-pem-file"
)

// Issuer names Key Vault gives special meaning.
const (
	IssuerSelf    = "Self"
	IssuerUnknown = "Unknown"
)

// Policy is a Key Vault certificate policy, with the service's JSON member names.
type Policy struct {
	ID              string           `json:"id,omitempty"`
	KeyProps        *PolicyKeyProps  `json:"key_props,omitempty"`
	SecretProps     *SecretProps     `json:"secret_props,omitempty"`
	X509Props       *X509Props       `json:"x509_props,omitempty"`
	LifetimeActions []LifetimeAction `json:"lifetime_actions,omitempty"`
	Issuer          *IssuerParams    `json:"issuer,omitempty"`
	Attributes      *PolicyAttrs     `json:"attributes,omitempty"`
}

// PolicyKeyProps is the policy's key_props.
type PolicyKeyProps struct {
	Exportable *bool  `json:"exportable,omitempty"`
	Kty        string `json:"kty,omitempty"`
	KeySize    int    `json:"key_size,omitempty"`
	ReuseKey   *bool  `json:"reuse_key,omitempty"`
	Curve      string `json:"crv,omitempty"`
}

// SecretProps is the policy's secret_props.
type SecretProps struct {
	ContentType string `json:"contentType,omitempty"`
}

// X509Props is the policy's x509_props.
type X509Props struct {
	Subject        string   `json:"subject,omitempty"`
	EKUs           []string `json:"ekus,omitempty"`
	SANs           *SANs    `json:"sans,omitempty"`
	KeyUsage       []string `json:"key_usage,omitempty"`
	ValidityMonths int      `json:"validity_months,omitempty"`
}

// SANs are the policy's subject alternative names.
type SANs struct {
	Emails   []string `json:"emails,omitempty"`
	DNSNames []string `json:"dns_names,omitempty"`
	UPNs     []string `json:"upns,omitempty"`
}

// LifetimeAction is one entry of lifetime_actions.
type LifetimeAction struct {
	Trigger LifetimeTrigger `json:"trigger"`
	Action  LifetimeType    `json:"action"`
}

// LifetimeTrigger says when a lifetime action fires.
type LifetimeTrigger struct {
	LifetimePercentage int `json:"lifetime_percentage,omitempty"`
	DaysBeforeExpiry   int `json:"days_before_expiry,omitempty"`
}

// LifetimeType is the action of a lifetime action.
type LifetimeType struct {
	ActionType string `json:"action_type"`
}

// IssuerParams is the policy's issuer.
type IssuerParams struct {
	Name                    string `json:"name,omitempty"`
	CertificateType         string `json:"cty,omitempty"`
	CertificateTransparency *bool  `json:"cert_transparency,omitempty"`
}

// PolicyAttrs are the policy's attributes (times in Unix seconds).
type PolicyAttrs struct {
	Enabled *bool `json:"enabled,omitempty"`
	Created int64 `json:"created,omitempty"`
	Updated int64 `json:"updated,omitempty"`
}

// keyUsageBits maps Key Vault key_usage names onto x509 bits.
var keyUsageNames = []string{
	"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
	"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
}

// Normalize validates p for a self-signed create and fills Key Vault's defaults: RSA 2048
// exportable key without reuse, PKCS#12 secret, 12 months validity, digitalSignature and
// keyEncipherment usages (digitalSignature only for EC), server+client auth EKUs, issuer Self,
// and an AutoRenew action at 80% lifetime. It reports the first problem as an *Error naming the
// policy field.
func (p *Policy) Normalize() error {
	if p.KeyProps == nil {
		p.KeyProps = &PolicyKeyProps{}
	}
	kp := p.KeyProps
	if kp.Kty == "" {
		kp.Kty = KtyRSA
	}
	switch normKty(kp.Kty) {
	case KtyRSA:
		if kp.KeySize == 0 {
			kp.KeySize = 2048
		}
		if !slices.Contains(RSASizes, kp.KeySize) {
			return badParam("policy.key_props.key_size", "policy.key_props.key_size %d is not supported: use 2048, 3072 or 4096", kp.KeySize)
		}
		if kp.Curve != "" {
			return badParam("policy.key_props.crv", "policy.key_props.crv is only valid with kty EC or EC-HSM; remove it or change kty")
		}
	case KtyEC:
		if kp.Curve == "" {
			kp.Curve = CurveP256
		}
		if _, err := curveByName(kp.Curve); err != nil {
			return badParam("policy.key_props.crv", "policy.key_props.%s", err.Error())
		}
		if kp.KeySize != 0 {
			return badParam("policy.key_props.key_size", "policy.key_props.key_size is only valid for RSA keys; for EC choose the curve with crv")
		}
	default:
		return badParam("policy.key_props.kty", "policy.key_props.%s", unsupportedKty(kp.Kty).Error())
	}
	if kp.Exportable == nil {
		kp.Exportable = ptr(true)
	}
	if kp.ReuseKey == nil {
		kp.ReuseKey = ptr(false)
	}
	if p.SecretProps == nil {
		p.SecretProps = &SecretProps{}
	}
	switch p.SecretProps.ContentType {
	case "":
		p.SecretProps.ContentType = ContentTypePKCS12
	case ContentTypePKCS12, ContentTypePEM:
	default:
		return badParam("policy.secret_props.contentType", "policy.secret_props.contentType %q is not supported: use application/x-pkcs12 or application/x-pem-file", p.SecretProps.ContentType)
	}
	x := p.X509Props
	if x == nil || (strings.TrimSpace(x.Subject) == "" && x.SANs.empty()) {
		return badParam("policy.x509_props.subject", "policy.x509_props.subject is required: set a subject such as \"CN=example.com\" (or subject alternative names in x509_props.sans)")
	}
	if x.Subject != "" {
		if _, err := ParseSubject(x.Subject); err != nil {
			return err
		}
	}
	if x.ValidityMonths == 0 {
		x.ValidityMonths = 12
	}
	if x.ValidityMonths < 0 || x.ValidityMonths > 1200 {
		return badParam("policy.x509_props.validity_months", "policy.x509_props.validity_months %d is out of range: use 1 to 1200", x.ValidityMonths)
	}
	if x.KeyUsage == nil {
		x.KeyUsage = []string{"digitalSignature", "keyEncipherment"}
		if normKty(kp.Kty) == KtyEC {
			x.KeyUsage = []string{"digitalSignature"}
		}
	}
	for _, u := range x.KeyUsage {
		if !slices.Contains(keyUsageNames, u) {
			return badParam("policy.x509_props.key_usage", "policy.x509_props.key_usage value %q is not valid: use %s", u, strings.Join(keyUsageNames, ", "))
		}
	}
	if x.EKUs == nil {
		x.EKUs = []string{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
	}
	for _, e := range x.EKUs {
		if _, err := parseOID(e); err != nil {
			return badParam("policy.x509_props.ekus", "policy.x509_props.ekus value %q is not an object identifier: use dotted form such as 1.3.6.1.5.5.7.3.1", e)
		}
	}
	if x.SANs != nil {
		for _, d := range x.SANs.DNSNames {
			if d == "" || strings.ContainsAny(d, " /@") {
				return badParam("policy.x509_props.sans.dns_names", "policy.x509_props.sans.dns_names value %q is not a DNS name", d)
			}
		}
		for _, e := range x.SANs.Emails {
			if !strings.Contains(e, "@") {
				return badParam("policy.x509_props.sans.emails", "policy.x509_props.sans.emails value %q is not an e-mail address", e)
			}
		}
	}
	if p.Issuer == nil {
		p.Issuer = &IssuerParams{}
	}
	switch {
	case p.Issuer.Name == "":
		p.Issuer.Name = IssuerSelf
	case strings.EqualFold(p.Issuer.Name, IssuerSelf):
		p.Issuer.Name = IssuerSelf
	default:
		return badParam("policy.issuer.name", "policy.issuer.name %q is not supported by the emulator: use \"Self\" for a self-signed certificate, or import the certificate", p.Issuer.Name)
	}
	if p.LifetimeActions == nil {
		p.LifetimeActions = []LifetimeAction{{Trigger: LifetimeTrigger{LifetimePercentage: 80}, Action: LifetimeType{ActionType: "AutoRenew"}}}
	}
	for _, a := range p.LifetimeActions {
		switch a.Action.ActionType {
		case "AutoRenew", "EmailContacts":
		default:
			return badParam("policy.lifetime_actions", "policy.lifetime_actions action_type %q is not valid: use AutoRenew or EmailContacts", a.Action.ActionType)
		}
		if a.Trigger.LifetimePercentage != 0 && a.Trigger.DaysBeforeExpiry != 0 {
			return badParam("policy.lifetime_actions", "a lifetime action trigger takes lifetime_percentage or days_before_expiry, not both")
		}
	}
	return nil
}

func (s *SANs) empty() bool {
	return s == nil || len(s.DNSNames)+len(s.Emails)+len(s.UPNs) == 0
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, badParam("oid", "not an OID")
	}
	for _, p := range parts {
		n := 0
		if p == "" || len(p) > 9 {
			return nil, badParam("oid", "not an OID")
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return nil, badParam("oid", "not an OID")
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	return oid, nil
}

func ptr[T any](v T) *T { return &v }
