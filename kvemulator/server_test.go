package kvemulator

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// No log line may carry a secret value or a token, at any verbosity.
func TestDebugLogsCarryNoSecretsOrTokens(t *testing.T) {
	var buf syncBuffer
	sd, err := ParseSeed([]byte("identities: [{name: admin, secrets: [client-secret-value]}]\nvaults: [{name: kv1, accessPolicies: [{identity: admin, secrets: [all]}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(t.Context(), Config{Seed: sd, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, _ := s.MintToken("admin", "https://vault.azure.net", time.Hour)
	hc := s.HTTPClient()
	for _, body := range []string{`{"value":"very-secret-value"}`, `{"value":`} {
		req, _ := http.NewRequest("PUT", s.VaultURL("kv1")+"secrets/logged?api-version=7.4", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"client-secret-value"}, "scope": {"x/.default"}}
	if resp, err := hc.PostForm(s.AuthorityHost()+store.DefaultTenantID+"/oauth2/v2.0/token", form); err == nil {
		resp.Body.Close()
	}
	s.Close()
	out := buf.String()
	if !strings.Contains(out, "SetSecret") {
		t.Fatalf("debug log lacks the request lines:\n%s", out)
	}
	for _, secret := range []string{"very-secret-value", "client-secret-value", tok[:40]} {
		if strings.Contains(out, secret) {
			t.Fatalf("log carries %q:\n%s", secret, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestSoftDeletedObjectsArePurgedAtScheduledDate(t *testing.T) {
	sd, _ := ParseSeed([]byte("vaults: [{name: kv1, softDeleteRetentionDays: 7, secrets: [{name: gone, versions: [{value: x}]}, {name: kept, versions: [{value: y}]}]}]"))
	s, err := Start(t.Context(), Config{Seed: sd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deletedAt := time.Now()
	_ = s.store.UpdateVault("kv1", func(v *store.Vault) error {
		v.Secrets["gone"].Deleted = v.SoftDelete(deletedAt)
		return nil
	})
	if n := s.store.SweepDeleted(deletedAt.Add(6 * 24 * time.Hour)); n != 0 {
		t.Fatalf("purged %d before the retention ended", n)
	}
	if n := s.store.SweepDeleted(deletedAt.Add(7*24*time.Hour + time.Second)); n != 1 {
		t.Fatalf("purged %d at the scheduled date, want 1", n)
	}
	_ = s.store.ViewVault("kv1", func(v *store.Vault) error {
		if v.Secrets["gone"] != nil || v.Secrets["kept"] == nil {
			t.Fatal("wrong objects purged")
		}
		return nil
	})
}
