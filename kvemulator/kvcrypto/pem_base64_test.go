package kvcrypto

import (
	"encoding/base64"
	"testing"
)

// The Python and .NET clients base64-encode the bytes of a .pem file like
// those of a PFX; with the PEM content type that is PEM.
func TestImportCertificateBase64PEM(t *testing.T) {
	value := base64.StdEncoding.EncodeToString(readTestdata(t, "rsa.pem"))
	c, ct, err := ImportCertificate(value, "", ContentTypePEM)
	if err != nil {
		t.Fatal(err)
	}
	if ct != ContentTypePEM || c.Leaf().Subject.CommonName != "rsa.example.com" || c.Key.Kty() != "RSA" {
		t.Fatalf("got %s %s %s", ct, c.Leaf().Subject.CommonName, c.Key.Kty())
	}
	// Without the PEM content type base64 is a PFX, and this one is not.
	if _, _, err := ImportCertificate(value, "", ContentTypePKCS12); err == nil {
		t.Fatal("base64 PEM imported as a PFX")
	}
}
