package keyvault

import (
	"strings"
	"testing"
	"time"
)

// objectVersionHistory's order: newest created first; versions created in
// the same second (Key Vault's resolution) are ordered by listing position,
// the later-listed one newer; a version without created sorts last.
func TestVersionOrderTieBreak(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := []versionInfo{
		{version: "a", created: t0},
		{version: "b", created: t0.Add(time.Second)},
		{version: "c", created: t0.Add(time.Second)}, // same second as b, listed after it
		{version: "none"},
		{version: "d", created: t0.Add(time.Second)}, // same second, listed last
		{version: "e", created: t0.Add(2 * time.Second)},
	}
	sortNewestFirst(vs)
	var got []string
	for _, v := range vs {
		got = append(got, v.version)
	}
	if want := "e d c b a none"; strings.Join(got, " ") != want {
		t.Errorf("order = %q, want %q", strings.Join(got, " "), want)
	}
}
