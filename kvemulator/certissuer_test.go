package kvemulator_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
)

// signCSR issues a certificate for the CSR from a throwaway CA, as an
// external CA would.
func signCSR(t *testing.T, csrDER []byte) []byte {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	ca := testCAKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: csr.Subject, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour)}
	parent := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "merge CA"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, csr.PublicKey, ca)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Issuer Unknown: the operation stays inProgress with the CSR, the
// certificate has no version, until a merge brings the signed certificate.
func TestUnknownIssuerPendsUntilMerge(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	cc := e.certsClient("kv1")
	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: ptr("Unknown")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=external.example")},
	}
	created, err := cc.CreateCertificate(ctx, "external", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *created.Status != "inProgress" || len(created.CSR) == 0 {
		t.Fatalf("create: %v", *created.Status)
	}
	for range 3 {
		op, err := cc.GetCertificateOperation(ctx, "external", nil)
		if err != nil || *op.Status != "inProgress" || !strings.Contains(*op.StatusDetails, "Perform Merge") {
			t.Fatalf("pending operation: %+v %v", op, err)
		}
	}
	_, err = cc.GetCertificate(ctx, "external", "", nil)
	wantCode(t, err, http.StatusNotFound, "CertificateNotFound")

	// A certificate for another key is refused.
	other := signCSR(t, created.CSR)
	otherCSR := mustCSR(t)
	if _, err := cc.MergeCertificate(ctx, "external", azcertificates.MergeCertificateParameters{X509Certificates: [][]byte{signCSR(t, otherCSR)}}, nil); err == nil {
		t.Fatal("merged a certificate for another key")
	}
	merged, err := cc.MergeCertificate(ctx, "external", azcertificates.MergeCertificateParameters{X509Certificates: [][]byte{other}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(merged.CER) != string(other) || *merged.Policy.IssuerParameters.Name != "Unknown" {
		t.Fatalf("merged: issuer %v", merged.Policy.IssuerParameters.Name)
	}
	op, err := cc.GetCertificateOperation(ctx, "external", nil)
	if err != nil || *op.Status != "completed" {
		t.Fatalf("after merge: %+v %v", op, err)
	}
	checkBacking(t, e, merged.Certificate, "application/x-pkcs12", 1)
}

// An issuer object of the vault (a CA provider the emulator does not reach)
// keeps the request in progress, as the service does until the CA answers.
func TestNamedIssuerPends(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	cc := e.certsClient("kv1")
	if _, err := cc.SetIssuer(ctx, "my-ca", azcertificates.SetIssuerParameters{Provider: ptr("Test")}, nil); err != nil {
		t.Fatal(err)
	}
	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: ptr("my-ca")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=issued.example")},
	}
	if _, err := cc.CreateCertificate(ctx, "issued", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil); err != nil {
		t.Fatal(err)
	}
	op, err := cc.GetCertificateOperation(ctx, "issued", nil)
	if err != nil || *op.Status != "inProgress" || *op.IssuerParameters.Name != "my-ca" {
		t.Fatalf("pending: %+v %v", op, err)
	}
	if _, err := cc.DeleteCertificateOperation(ctx, "issued", nil); err != nil {
		t.Fatal(err)
	}
	// Nothing is left: the request never produced a certificate.
	_, err = cc.GetCertificateOperation(ctx, "issued", nil)
	wantCode(t, err, http.StatusNotFound, "CertificateNotFound")
}

func testCAKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustCSR is a CSR for a key nobody else has.
func mustCSR(t *testing.T) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "someone else"}}, testCAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return der
}
