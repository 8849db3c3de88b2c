package render

import (
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound/pkcs12boundtest"
)

// TestPFXToPEMRefusesHugeIterations (issue 10 §2): a PFX naming 2^31-1
// iterations is refused before any key derivation (decoding it would take
// about ten minutes), with the count in the message; an ordinary PFX renders.
func TestPFXToPEMRefusesHugeIterations(t *testing.T) {
	for _, w := range []pkcs12boundtest.Where{pkcs12boundtest.MAC, pkcs12boundtest.EncryptedData, pkcs12boundtest.ShroudedKey} {
		pfx, err := pkcs12boundtest.Hostile(w, pkcs12boundtest.Huge)
		if err != nil {
			t.Fatal(err)
		}
		_, err = PFXToPEM(pfx, true)
		if err == nil || !strings.Contains(err.Error(), "2147483647 iterations") {
			t.Fatalf("place %d: %v, want a refusal naming 2147483647 iterations", w, err)
		}
	}
	ok, err := pkcs12boundtest.Hostile(pkcs12boundtest.EncryptedData, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := PFXToPEM(ok, true); err != nil || !strings.Contains(string(out), "PRIVATE KEY") {
		t.Fatalf("ordinary PFX: %v", err)
	}
}
