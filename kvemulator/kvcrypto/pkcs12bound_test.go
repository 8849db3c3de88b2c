package kvcrypto

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound/pkcs12boundtest"
)

// TestImportRefusesHugeIterations (issue 10 §2): a certificate import of a
// PFX naming 2^31-1 iterations is a caller error on value, naming the count,
// returned before any key derivation (decoding would take about ten minutes).
func TestImportRefusesHugeIterations(t *testing.T) {
	for _, w := range []pkcs12boundtest.Where{pkcs12boundtest.MAC, pkcs12boundtest.EncryptedData, pkcs12boundtest.ShroudedKey} {
		pfx, err := pkcs12boundtest.Hostile(w, pkcs12boundtest.Huge)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ImportCertificate(base64.StdEncoding.EncodeToString(pfx), "", "")
		e, ok := AsError(err)
		if !ok || e.Field != "value" || !strings.Contains(err.Error(), "2147483647 iterations") {
			t.Fatalf("place %d: %v, want a value error naming 2147483647 iterations", w, err)
		}
	}
}
