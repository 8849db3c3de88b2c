package secretsync

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound/pkcs12boundtest"
)

// TestTLSSyncRefusesHugeIterations (issue 10 §2): the TLS sync decode of a
// PFX naming 2^31-1 iterations, raw or base64 as Key Vault stores it, is
// refused before any key derivation (decoding would take about ten minutes,
// inside NodePublishVolume), naming the count.
func TestTLSSyncRefusesHugeIterations(t *testing.T) {
	pfx, err := pkcs12boundtest.Hostile(pkcs12boundtest.MAC, pkcs12boundtest.Huge)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"raw": pfx, "base64": []byte(base64.StdEncoding.EncodeToString(pfx))} {
		_, err := parsePKCS12(content)
		if err == nil || !strings.Contains(err.Error(), "2147483647 iterations") {
			t.Fatalf("%s: %v, want a refusal naming 2147483647 iterations", name, err)
		}
	}
}
