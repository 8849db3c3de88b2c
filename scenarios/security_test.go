package scenarios

import (
	"strings"
	"testing"
)

// TestScanForLeaks: a secret or any JWT in a place is found and named by
// its number, never by its value; short needles are not searched.
func TestScanForLeaks(t *testing.T) {
	const secret = "s3cr3t-value-12345"
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	places := map[string][]byte{
		"logs/clean.log":    []byte("mount ok pod=default/p objects=1\n"),
		"logs/leaky.log":    []byte("fetched value=" + secret + "\n"),
		"event default/e1":  []byte("Mounted\nsecret is " + secret),
		"logs/token.log":    []byte("Authorization: Bearer " + jwt),
		"metrics driver:80": []byte("total_node_publish 3\n"),
	}
	found := ScanForLeaks(places, []string{secret, "short"})
	if len(found) != 3 {
		t.Fatalf("found %v, want the leaky log, the event and the token", found)
	}
	for _, f := range found {
		if strings.Contains(f.Secret, secret) || strings.Contains(f.Secret, jwt) || strings.Contains(f.Place, secret) {
			t.Fatalf("a finding shows the secret: %+v", f)
		}
	}
	if got := ScanForLeaks(map[string][]byte{"x": []byte("a short word")}, []string{"short"}); len(got) != 0 {
		t.Fatalf("a needle under %d bytes was searched: %v", minNeedle, got)
	}
}
