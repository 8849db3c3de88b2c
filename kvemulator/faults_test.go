package kvemulator

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLimiterSlidingWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := &limiter{now: func() time.Time { return now }}
	l.set(Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 3, Key: 1})
	for i := 0; i < 3; i++ {
		if err := l.take("kv1", "secret"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	err := l.take("kv1", "secret")
	if err == nil || err.Status != 429 || err.Code != "Throttled" || err.RetryAfter < 1 {
		t.Fatalf("4th request: %v", err)
	}
	// Throttled requests do not count, other vaults and classes are separate.
	if err := l.take("kv2", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := l.take("kv1", "key"); err != nil {
		t.Fatal(err)
	}
	if err := l.take("kv1", "keyCreate"); err != nil {
		t.Fatal("keyCreate limit 0 means unlimited")
	}
	now = now.Add(5 * time.Second)
	if err := l.take("kv1", "secret"); err == nil {
		t.Fatal("still inside the window")
	}
	now = now.Add(6 * time.Second)
	if err := l.take("kv1", "secret"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	l.set(Limits{Enabled: false, Window: Duration(time.Second), Secret: 1})
	for i := 0; i < 10; i++ {
		if err := l.take("kv1", "secret"); err != nil {
			t.Fatal("disabled limits must not throttle")
		}
	}
}

func TestLimiterSubscriptionWide(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := &limiter{now: func() time.Time { return now }}
	l.set(Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 2})
	// Five vaults at their own limit use up the 5× subscription limit.
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		for i := 0; i < 2; i++ {
			if err := l.take(v, "secret"); err != nil {
				t.Fatalf("%s: %v", v, err)
			}
		}
	}
	if err := l.take("f", "secret"); err == nil {
		t.Fatal("a sixth vault must hit the subscription-wide limit")
	}
}

func TestFaultRulesMatchAndRetire(t *testing.T) {
	var fs faults
	for _, bad := range []Fault{{Status: 404}, {}, {Status: 500, Drop: true}, {Latency: -1}} {
		if _, err := fs.add(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := fs.add(Fault{Vault: "kv1", Op: "GetSecret", Status: 503, Count: 2}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.match("kv2", "x", "GetSecret"); ok {
		t.Fatal("other vault matched")
	}
	if _, ok := fs.match("kv1", "x", "SetSecret"); ok {
		t.Fatal("other op matched")
	}
	for i := 0; i < 2; i++ {
		if f, ok := fs.match("kv1", "x", "GetSecret"); !ok || f.Status != 503 {
			t.Fatalf("hit %d: %+v %v", i, f, ok)
		}
	}
	if _, ok := fs.match("kv1", "x", "GetSecret"); ok || len(fs.list()) != 0 {
		t.Fatal("rule must retire after Count hits")
	}
}

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
	if resp, err := hc.PostForm(s.AuthorityHost()+defaultTenantID+"/oauth2/v2.0/token", form); err == nil {
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
	_ = s.store.updateVault("kv1", func(v *Vault) error {
		v.Secrets["gone"].Deleted = v.softDelete(deletedAt)
		return nil
	})
	if n := s.store.sweepDeleted(deletedAt.Add(6 * 24 * time.Hour)); n != 0 {
		t.Fatalf("purged %d before the retention ended", n)
	}
	if n := s.store.sweepDeleted(deletedAt.Add(7*24*time.Hour + time.Second)); n != 1 {
		t.Fatalf("purged %d at the scheduled date, want 1", n)
	}
	_ = s.store.viewVault("kv1", func(v *Vault) error {
		if v.Secrets["gone"] != nil || v.Secrets["kept"] == nil {
			t.Fatal("wrong objects purged")
		}
		return nil
	})
}
