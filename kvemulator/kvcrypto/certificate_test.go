package kvcrypto

import (
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"software.sslmate.com/src/go-pkcs12"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPolicyFromService decodes a policy in the service's shape and one serialised by the
// real azcertificates model, and re-encodes ours for the SDK.
func TestPolicyFromService(t *testing.T) {
	var p Policy
	if err := json.Unmarshal(readTestdata(t, "policy_service.json"), &p); err != nil {
		t.Fatal(err)
	}
	if p.KeyProps.Kty != "RSA" || p.KeyProps.KeySize != 2048 || *p.KeyProps.Exportable != true ||
		p.SecretProps.ContentType != ContentTypePKCS12 || p.X509Props.Subject != "cn=MyCert" ||
		p.X509Props.ValidityMonths != 12 || p.Issuer.Name != "Self" || p.LifetimeActions[0].Trigger.LifetimePercentage != 80 ||
		p.Attributes.Created != 1588884981 {
		t.Fatalf("decoded policy = %+v", p)
	}
	if err := p.Normalize(); err != nil {
		t.Fatalf("Normalize(service policy) = %v", err)
	}

	sdkIn := azcertificates.CertificatePolicy{
		IssuerParameters: &azcertificates.IssuerParameters{Name: to("Self")},
		KeyProperties:    &azcertificates.KeyProperties{KeyType: to(azcertificates.KeyTypeEC), Curve: to(azcertificates.CurveNameP384), Exportable: to(true)},
		SecretProperties: &azcertificates.SecretProperties{ContentType: to(ContentTypePEM)},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{
			Subject:                 to("CN=api.example.com, O=Contoso"),
			SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{DNSNames: []*string{to("api.example.com")}, Emails: []*string{to("ops@example.com")}, UserPrincipalNames: []*string{to("svc@example.com")}},
			KeyUsage:                []*azcertificates.KeyUsageType{to(azcertificates.KeyUsageTypeDigitalSignature)},
			EnhancedKeyUsage:        []*string{to("1.3.6.1.5.5.7.3.1")},
			ValidityInMonths:        to[int32](3),
		},
	}
	b, _ := json.Marshal(sdkIn)
	var q Policy
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(&q)
	var sdkOut azcertificates.CertificatePolicy
	if err := json.Unmarshal(out, &sdkOut); err != nil {
		t.Fatalf("SDK cannot decode our policy: %v\n%s", err, out)
	}
	if *sdkOut.KeyProperties.Curve != azcertificates.CurveNameP384 || *sdkOut.X509CertificateProperties.ValidityInMonths != 3 ||
		*sdkOut.X509CertificateProperties.SubjectAlternativeNames.UserPrincipalNames[0] != "svc@example.com" ||
		*sdkOut.SecretProperties.ContentType != ContentTypePEM || *sdkOut.KeyProperties.ReuseKey != false {
		t.Errorf("policy round trip through the SDK lost fields: %s", out)
	}
}

func to[T any](v T) *T { return &v }

func TestNormalizeDefaultsAndRejects(t *testing.T) {
	p := Policy{X509Props: &X509Props{Subject: "CN=d"}}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.KeyProps.Kty != "RSA" || p.KeyProps.KeySize != 2048 || !*p.KeyProps.Exportable || *p.KeyProps.ReuseKey ||
		p.SecretProps.ContentType != ContentTypePKCS12 || p.X509Props.ValidityMonths != 12 || p.Issuer.Name != "Self" ||
		!slices.Equal(p.X509Props.KeyUsage, []string{"digitalSignature", "keyEncipherment"}) || len(p.X509Props.EKUs) != 2 ||
		p.LifetimeActions[0].Action.ActionType != "AutoRenew" {
		t.Errorf("defaults = %+v %+v %+v", p.KeyProps, p.X509Props, p.Issuer)
	}
	tests := []struct {
		name, json, field string
	}{
		{"no subject", `{}`, "policy.x509_props.subject"},
		{"bad subject", `{"x509_props":{"subject":"example.com"}}`, "policy.x509_props.subject"},
		{"unknown attribute", `{"x509_props":{"subject":"XX=1"}}`, "policy.x509_props.subject"},
		{"bad country", `{"x509_props":{"subject":"CN=a, C=USA"}}`, "policy.x509_props.subject"},
		{"oct", `{"key_props":{"kty":"oct"},"x509_props":{"subject":"CN=a"}}`, "policy.key_props.kty"},
		{"rsa 1024", `{"key_props":{"kty":"RSA","key_size":1024},"x509_props":{"subject":"CN=a"}}`, "policy.key_props.key_size"},
		{"P-256K", `{"key_props":{"kty":"EC","crv":"P-256K"},"x509_props":{"subject":"CN=a"}}`, "policy.key_props.crv"},
		{"content type", `{"secret_props":{"contentType":"text/plain"},"x509_props":{"subject":"CN=a"}}`, "policy.secret_props.contentType"},
		{"key usage", `{"x509_props":{"subject":"CN=a","key_usage":["signing"]}}`, "policy.x509_props.key_usage"},
		{"eku", `{"x509_props":{"subject":"CN=a","ekus":["serverAuth"]}}`, "policy.x509_props.ekus"},
		{"validity", `{"x509_props":{"subject":"CN=a","validity_months":-1}}`, "policy.x509_props.validity_months"},
		{"issuer", `{"issuer":{"name":"DigiCert"},"x509_props":{"subject":"CN=a"}}`, "policy.issuer.name"},
		{"action", `{"lifetime_actions":[{"trigger":{"lifetime_percentage":80},"action":{"action_type":"Renew"}}],"x509_props":{"subject":"CN=a"}}`, "policy.lifetime_actions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Policy
			if err := json.Unmarshal([]byte(tc.json), &p); err != nil {
				t.Fatal(err)
			}
			e, ok := AsError(p.Normalize())
			if !ok || e.Field != tc.field || !strings.Contains(e.Message, tc.field) {
				t.Errorf("Normalize = %v, want an *Error for %s naming it", e, tc.field)
			}
		})
	}
}

func TestCreateSelfSigned(t *testing.T) {
	p := Policy{
		KeyProps:    &PolicyKeyProps{Kty: "EC", Curve: "P-384"},
		SecretProps: &SecretProps{ContentType: ContentTypePEM},
		X509Props: &X509Props{
			Subject:        `CN=api.example.com, OU="Ops, Platform", O=Contoso, C=US`,
			SANs:           &SANs{DNSNames: []string{"api.example.com", "*.api.example.com"}, Emails: []string{"ops@example.com"}, UPNs: []string{"svc@example.com"}},
			KeyUsage:       []string{"digitalSignature", "keyAgreement"},
			EKUs:           []string{"1.3.6.1.5.5.7.3.1"},
			ValidityMonths: 6,
		},
	}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	key, err := Generate(p.KeyOptions())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	c, err := CreateSelfSigned(&p, key, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf()
	if got := leaf.Subject.String(); got != `CN=api.example.com,OU=Ops\, Platform,O=Contoso,C=US` {
		t.Errorf("subject = %s", got)
	}
	if FormatSubject(leaf.RawSubject) != `CN=api.example.com, OU="Ops, Platform", O=Contoso, C=US` {
		t.Errorf("FormatSubject = %s", FormatSubject(leaf.RawSubject))
	}
	if !slices.Equal(leaf.DNSNames, []string{"api.example.com", "*.api.example.com"}) || !slices.Equal(leaf.EmailAddresses, []string{"ops@example.com"}) {
		t.Errorf("SANs = %v %v", leaf.DNSNames, leaf.EmailAddresses)
	}
	if !leaf.NotBefore.Equal(now) || !leaf.NotAfter.Equal(time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("validity = %v .. %v", leaf.NotBefore, leaf.NotAfter)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement {
		t.Errorf("key usage = %b", leaf.KeyUsage)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("EKU = %v %v", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if len(leaf.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId = %x", leaf.SubjectKeyId)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(leaf), DNSName: "x.api.example.com", CurrentTime: now.Add(time.Hour)}); err != nil {
		t.Errorf("leaf does not verify for a wildcard SAN: %v", err)
	}
	// The policy the SDK would read back describes the certificate.
	back := PolicyFor(c, ContentTypePEM, true)
	if back.KeyProps.Curve != "P-384" || back.X509Props.ValidityMonths != 6 || !slices.Equal(back.X509Props.EKUs, []string{"1.3.6.1.5.5.7.3.1"}) ||
		!slices.Equal(back.X509Props.KeyUsage, []string{"digitalSignature", "keyAgreement"}) {
		t.Errorf("PolicyFor = %+v %+v", back.KeyProps, back.X509Props)
	}
	csr, err := CSR(&p, key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil || req.CheckSignature() != nil || req.Subject.CommonName != "api.example.com" {
		t.Errorf("CSR = %+v, %v", req, err)
	}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestSecretValue renders the backing secret for both content types and decodes it the way
// the Azure provider does: the PFX with an empty password, the PEM block by block.
func TestSecretValue(t *testing.T) {
	c, _, err := ImportCertificate(string(readTestdata(t, "chain-password.pfx64")), "chainpw", "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.SecretValue(ContentTypePKCS12, true)
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("PFX secret is not standard base64: %v", err)
	}
	priv, leaf, cas, err := pkcs12.DecodeChain(der, "")
	if err != nil {
		t.Fatalf("PFX secret does not decode with an empty password: %v", err)
	}
	if !leaf.Equal(c.Leaf()) || len(cas) != 1 || cas[0].Subject.CommonName != "Test Root CA" || !sdkPublicMatches(priv.(crypto.Signer).Public(), c.Key.Public()) {
		t.Errorf("PFX secret content differs: leaf %s, %d CAs", leaf.Subject, len(cas))
	}

	v, err = c.SecretValue(ContentTypePEM, true)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	rest := []byte(v)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		types = append(types, b.Type)
	}
	if !slices.Equal(types, []string{"PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"}) {
		t.Errorf("PEM secret blocks = %v, want key first then leaf and CA", types)
	}
	re, ct, err := ImportCertificate(v, "", "")
	if err != nil || ct != ContentTypePEM || !re.Leaf().Equal(c.Leaf()) {
		t.Errorf("PEM secret does not re-import: %v", err)
	}

	v, _ = c.SecretValue(ContentTypePEM, false)
	if strings.Contains(v, "PRIVATE KEY") {
		t.Error("non-exportable PEM secret carries the private key")
	}
	if got, want := base64.RawURLEncoding.EncodeToString(c.X5T()), x5tOf(c.Leaf()); got != want {
		t.Errorf("x5t = %s, want %s", got, want)
	}
}

func TestImportCertificate(t *testing.T) {
	tests := []struct {
		name, file, pwd, ct string
		wantCT, wantCN      string
		wantKty             string
		wantChain           int
	}{
		{"PFX with password", "rsa-password.pfx64", "s3cret-pfx", "", ContentTypePKCS12, "rsa.example.com", "RSA", 1},
		{"PFX with empty password", "rsa-nopassword.pfx64", "", ContentTypePKCS12, ContentTypePKCS12, "rsa.example.com", "RSA", 1},
		{"PFX legacy EC", "ec-legacy.pfx64", "ecpw", "", ContentTypePKCS12, "ec.example.com", "EC", 1},
		{"PFX chain", "chain-password.pfx64", "chainpw", "", ContentTypePKCS12, "leaf.example.com", "RSA", 2},
		{"PEM PKCS#8", "rsa.pem", "", ContentTypePEM, ContentTypePEM, "rsa.example.com", "RSA", 1},
		{"PEM PKCS#1", "rsa-pkcs1.pem", "", "", ContentTypePEM, "rsa.example.com", "RSA", 1},
		{"PEM key last, chain", "chain-keylast.pem", "", "", ContentTypePEM, "leaf.example.com", "RSA", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ct, err := ImportCertificate(string(readTestdata(t, tc.file)), tc.pwd, tc.ct)
			if err != nil {
				t.Fatal(err)
			}
			if ct != tc.wantCT || c.Leaf().Subject.CommonName != tc.wantCN || c.Key.Kty() != tc.wantKty || len(c.Chain) != tc.wantChain {
				t.Errorf("got %s %s %s chain %d", ct, c.Leaf().Subject.CommonName, c.Key.Kty(), len(c.Chain))
			}
			if !sdkPublicMatches(c.Key.Public(), c.Leaf().PublicKey) {
				t.Error("key does not match the leaf")
			}
			p := PolicyFor(c, ct, true)
			if p.Issuer.Name != "Unknown" || p.SecretProps.ContentType != ct || !strings.Contains(p.X509Props.Subject, "CN="+tc.wantCN) {
				t.Errorf("PolicyFor = %+v %+v", p.Issuer, p.X509Props)
			}
		})
	}
}

func TestImportCertificateRejects(t *testing.T) {
	rsaCrt := string(readTestdata(t, "rsa.crt"))
	ecKey := string(readTestdata(t, "ec.key"))
	tests := []struct {
		name, value, pwd, ct, field, msg string
	}{
		{"empty", " ", "", "", "value", "value is required"},
		{"wrong PFX password", string(readTestdata(t, "rsa-password.pfx64")), "wrong", "", "pwd", "incorrect"},
		{"missing PFX password", string(readTestdata(t, "rsa-password.pfx64")), "", "", "pwd", "pass its password in pwd"},
		{"not base64", "this is not a certificate", "", "", "value", "neither PEM nor valid base64"},
		{"base64 but not PFX", base64.StdEncoding.EncodeToString([]byte("garbage bytes")), "", "", "value", "not a valid PFX"},
		{"PEM without key", rsaCrt, "", "", "value", "no private key"},
		{"PEM without cert", ecKey, "", "", "value", "no CERTIFICATE block"},
		{"PEM key mismatch", rsaCrt + ecKey, "", "", "value", "does not belong"},
		{"PEM encrypted key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "", "", "value", "encrypted"},
		{"PEM as pkcs12", string(readTestdata(t, "rsa.pem")), "", ContentTypePKCS12, "value", "set contentType to application/x-pem-file"},
		{"PFX as pem", string(readTestdata(t, "rsa-nopassword.pfx64")), "", ContentTypePEM, "value", "not PEM"},
		{"bad content type", string(readTestdata(t, "rsa.pem")), "", "text/plain", "policy.secret_props.contentType", "not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := ImportCertificate(tc.value, tc.pwd, tc.ct)
			e, ok := AsError(err)
			if c != nil || !ok || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("err = %v, want field %s containing %q", err, tc.field, tc.msg)
			}
			if tc.pwd != "" && strings.Contains(e.Message, tc.pwd) {
				t.Error("error message contains the password")
			}
		})
	}
}

func x5tOf(c *x509.Certificate) string {
	// Independent computation: openssl-style SHA-1 fingerprint, base64url without padding.
	h := sha1Sum(c.Raw)
	return base64.RawURLEncoding.EncodeToString(h)
}

func sha1Sum(b []byte) []byte { s := sha1.Sum(b); return s[:] }
