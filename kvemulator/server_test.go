package kvemulator

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// Tokens the emulator's own key signed but Entra would never issue are
// refused, each with its own message: another issuer, a time claim that is
// a string, a future nbf, no exp. (An attacker cannot sign with the key;
// these keep the data plane as strict as the service.)
func TestDataPlaneRefusesOddTokens(t *testing.T) {
	sd, err := ParseSeed([]byte("identities: [{name: admin}]\nvaults: [{name: kv1, accessPolicies: [{identity: admin, secrets: [all]}], secrets: [{name: s, versions: [{value: v}]}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(t.Context(), Config{Seed: sd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := s.store.IdentityBy(func(i *store.Identity) bool { return i.Name == "admin" })
	now := time.Now().Unix()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"tid": id.TenantID, "oid": id.ObjectID, "appid": id.ClientID, "kvemu_identity": id.Name,
			"iss": "https://sts.windows.net/" + id.TenantID + "/", "aud": "https://vault.azure.net", "iat": now, "nbf": now - 60, "exp": now + 3600}
		mod(c)
		return c
	}
	get := func(c jwt.MapClaims) (int, string) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(s.tokens.Key())
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "https://kv1.vault.kvcsi.test/secrets/s?api-version=7.4", nil)
		req.Host = "kv1.vault.kvcsi.test"
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := get(claims(func(jwt.MapClaims) {})); code != 200 {
		t.Fatalf("a well-formed token: %d %s", code, body)
	}
	for _, tc := range []struct {
		name string
		mod  func(jwt.MapClaims)
		want string
	}{
		{"another issuer", func(c jwt.MapClaims) { c["iss"] = "https://login.attacker.example/" + id.TenantID + "/" }, "Invalid issuer"},
		{"v2 issuer", func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/" + id.TenantID + "/v2.0" }, "Invalid issuer"},
		{"string exp", func(c jwt.MapClaims) { c["exp"] = strconv.FormatInt(now+3600, 10) }, "must be JSON numbers"},
		{"string nbf", func(c jwt.MapClaims) { c["nbf"] = strconv.FormatInt(now-60, 10) }, "must be JSON numbers"},
		{"future nbf", func(c jwt.MapClaims) { c["nbf"] = now + 3600 }, "not valid yet"},
		{"no exp", func(c jwt.MapClaims) { delete(c, "exp") }, "no exp claim"},
		{"expired", func(c jwt.MapClaims) { c["exp"] = now - 10 }, "has expired"},
	} {
		code, body := get(claims(tc.mod))
		if code != http.StatusUnauthorized || !strings.Contains(body, tc.want) || strings.Contains(body, "signature") {
			t.Errorf("%s: %d %.160s, want 401 saying %q", tc.name, code, body, tc.want)
		}
	}
}
