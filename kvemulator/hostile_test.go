package kvemulator_test

// Issue 10 §3: the emulator under hostile traffic. Each probe of the security
// review is kept here as a regression test.

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// Thousands of unauthenticated requests naming distinct 16 KiB objects, and
// requests to thousands of vaults that do not exist, add no counter keys: the
// names are request data, counted only for authenticated callers.
func TestAnonymousRequestsDoNotGrowCounters(t *testing.T) {
	e := startEmu(t)
	long := strings.Repeat("n", 16<<10)
	for i := range 3000 {
		req := httptest.NewRequest("GET", "https://kv1.vault.kvcsi.test/secrets/"+long+strconv.Itoa(i)+"?api-version=7.4", nil)
		req.Host = "kv1.vault.kvcsi.test"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("anonymous request: %d", rec.Code)
		}
	}
	for i := range 1000 {
		host := "v" + strconv.Itoa(i) + strings.Repeat("x", 20) + ".vault.kvcsi.test"
		req := httptest.NewRequest("GET", "https://"+host+"/secrets/a?api-version=7.4", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Fatalf("unknown vault: %d", rec.Code)
		}
	}
	cs := e.counters()
	if len(cs) > 4 {
		t.Fatalf("%d counter keys after anonymous traffic, want at most 4 (first: %.80s / %.80s)", len(cs), cs[0].Vault, cs[0].Object)
	}
	for _, c := range cs {
		if len(c.Object) > 0 || len(c.Vault) > len("kv1") {
			t.Fatalf("counter keyed by request data: %.80s / %.80s", c.Vault, c.Object)
		}
	}
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Status: 401}); n != 3000 {
		t.Fatalf("%d anonymous GetSecret counted, want 3000", n)
	}
	if n := sum(cs, kvemulator.CounterKey{Op: "VaultNotFound", Status: 404}); n != 1000 {
		t.Fatalf("%d unknown-vault requests counted, want 1000", n)
	}
}

// shortLimits makes every listener give up on a slow client quickly.
func shortLimits(c *kvemulator.Config) {
	c.ReadHeaderTimeout = 300 * time.Millisecond
	c.ReadTimeout = 600 * time.Millisecond
	c.IdleTimeout = 600 * time.Millisecond
}

// closedByServer reads until the server closes the connection. The deadline
// is only a guard against hanging the test: reaching it is the failure.
func closedByServer(t *testing.T, name string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept a slow connection open", name)
	}
}

// A slow-loris client (headers never finished) and a client that sends
// headers but not the body it announced are disconnected on every listener.
func TestSlowClientsAreDisconnected(t *testing.T) {
	e := startEmu(t, shortLimits)
	plain := map[string]string{"admin": strings.TrimPrefix(e.AdminURL(), "http://"), "msi": strings.TrimPrefix(e.NMIURL(), "http://")}
	for name, addr := range plain {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
		closedByServer(t, name+" slow headers", c)
	}
	c, err := tls.Dial("tcp", e.Addr(), &tls.Config{RootCAs: e.CertPool(), ServerName: "kv1.vault.kvcsi.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /secrets/a?api-version=7.4 HTTP/1.1\r\nHost: kv1.vault.kvcsi.test\r\nX-Slow: ")
	closedByServer(t, "https slow headers", c)

	raw, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	closedByServer(t, "https silent before the handshake", raw)

	b, err := net.Dial("tcp", strings.TrimPrefix(e.AdminURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	io.WriteString(b, "POST /seed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	closedByServer(t, "admin body never sent", b)
}

// Oversized headers are refused (431) rather than buffered.
func TestOversizedHeadersAreRefused(t *testing.T) {
	e := startEmu(t)
	req, _ := http.NewRequest("GET", e.AdminURL()+"/info", nil)
	req.Header.Set("X-Big", strings.Repeat("h", kvemulator.DefaultMaxHeaderBytes+8<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("%d, want 431", resp.StatusCode)
	}
}

// The admin API answers only loopback Host values (DNS rebinding) and
// same-site, JSON-typed state changes (cross-site requests from a page).
func TestAdminRefusesForeignHostOriginAndFormPosts(t *testing.T) {
	e := startEmu(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.AdminURL(), "http://"))
	do := func(method, path, host, origin, ctype string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.AdminURL()+path, strings.NewReader("{}"))
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "kv1.vault.kvcsi.test", "10.0.0.1:" + port, "localhost.attacker.example"} {
		code, body := do("GET", "/snapshot", host, "", "")
		if code != http.StatusForbidden || strings.Contains(body, "db-password-v2") || !strings.Contains(body, "loopback") {
			t.Errorf("Host %s: %d %.200s", host, code, body)
		}
	}
	for _, host := range []string{"", "localhost:" + port, "LOCALHOST", "127.0.0.1", "[::1]:" + port, "127.1.2.3:9"} {
		if code, body := do("GET", "/snapshot", host, "", ""); code != http.StatusOK {
			t.Errorf("Host %q: %d %.200s", host, code, body)
		}
	}
	if code, _ := do("GET", "/snapshot", "", "http://attacker.example", ""); code != http.StatusForbidden {
		t.Errorf("foreign Origin: %d", code)
	}
	if code, _ := do("GET", "/info", "", "null", ""); code != http.StatusForbidden {
		t.Errorf("Origin null: %d", code)
	}
	if code, _ := do("GET", "/info", "", "http://localhost:3000", ""); code != http.StatusOK {
		t.Errorf("loopback Origin: %d", code)
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		if code, _ := do("POST", "/reset", "", "", ct); code != http.StatusUnsupportedMediaType {
			t.Errorf("POST /reset with Content-Type %q: %d, want 415", ct, code)
		}
		if code, _ := do("PUT", "/settings", "", "", ct); code != http.StatusUnsupportedMediaType {
			t.Errorf("PUT /settings with Content-Type %q: %d, want 415", ct, code)
		}
	}
	if code, body := do("POST", "/reset", "", "", "application/json; charset=utf-8"); code != http.StatusNoContent {
		t.Errorf("POST /reset as JSON: %d %s", code, body)
	}
	seed, err := os.ReadFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Admin().Seed(seed); err != nil {
		t.Errorf("the admin client's YAML seed: %v", err)
	}
}

// IMDS refuses a request relayed by a proxy (X-Forwarded-For), as Azure's does.
func TestIMDSRefusesForwardedRequests(t *testing.T) {
	e := startEmu(t)
	get := func(xff string) int {
		req, _ := http.NewRequest("GET", e.IMDSURL()+"?api-version=2018-02-01&resource=https://vault.azure.net", nil)
		req.Header.Set("Metadata", "true")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("203.0.113.9"); code != http.StatusBadRequest {
		t.Fatalf("with X-Forwarded-For: %d, want 400", code)
	}
	if code := get(""); code != http.StatusOK {
		t.Fatalf("without: %d", code)
	}
}

// A backup restores only into a vault of the tenant it came from.
func TestBackupRestoresOnlyWithinItsTenant(t *testing.T) {
	sd, err := kvemulator.ParseSeed([]byte(`
tenants: [{id: 11111111-1111-1111-1111-111111111111}, {id: 22222222-2222-2222-2222-222222222222}]
identities:
  - {name: a, tenantId: 11111111-1111-1111-1111-111111111111}
  - {name: b, tenantId: 22222222-2222-2222-2222-222222222222}
vaults:
  - {name: kva, tenant: 11111111-1111-1111-1111-111111111111, accessPolicies: [{identity: a, secrets: [all]}], secrets: [{name: s, versions: [{value: v}]}]}
  - {name: kva2, tenant: 11111111-1111-1111-1111-111111111111, accessPolicies: [{identity: a, secrets: [all]}]}
  - {name: kvb, tenant: 22222222-2222-2222-2222-222222222222, accessPolicies: [{identity: b, secrets: [all]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := kvemulator.Start(ctx, kvemulator.Config{Seed: sd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hc := s.HTTPClient()
	call := func(identity, vault, path, body string) (int, string) {
		t.Helper()
		tok, err := s.MintToken(identity, "https://vault.azure.net", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", s.VaultURL(vault)+path+"?api-version=7.4", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(bufio.NewReader(resp.Body))
		return resp.StatusCode, string(b)
	}
	code, body := call("a", "kva", "secrets/s/backup", "")
	if code != 200 {
		t.Fatalf("backup: %d %s", code, body)
	}
	blob := body[strings.Index(body, `"value":"`)+9 : strings.LastIndex(body, `"`)]
	if code, body := call("b", "kvb", "secrets/restore", `{"value":"`+blob+`"}`); code != http.StatusBadRequest || !strings.Contains(body, "tenant") {
		t.Fatalf("restore into another tenant's vault: %d %s", code, body)
	}
	if code, body := call("a", "kva2", "secrets/restore", `{"value":"`+blob+`"}`); code != http.StatusOK {
		t.Fatalf("restore within the tenant: %d %s", code, body)
	}
}

// Attribute names on the wire are the service's (camel case): Go's decoder
// would accept any case, other clients do not.
func TestAttributesWireNames(t *testing.T) {
	e := startEmu(t)
	tok, err := e.MintToken("app-reader", "https://vault.azure.net", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.VaultURL("kv1")+"secrets/db-password?api-version=7.4", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`"recoveryLevel":"`, `"recoverableDays":`, `"created":`, `"enabled":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the secret bundle lacks %s", want)
		}
	}
}
