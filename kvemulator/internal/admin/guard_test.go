package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzGuard sends arbitrary Host, Origin, method and Content-Type values to
// the admin guard: a request reaches the API only when the Host is loopback,
// any Origin is loopback, and a state change is typed JSON (or YAML on /seed).
func FuzzGuard(f *testing.F) {
	f.Add("127.0.0.1:8444", "", "GET", "", "/snapshot")
	f.Add("attacker.example", "", "GET", "", "/snapshot")
	f.Add("localhost.attacker.example:8444", "", "GET", "", "/snapshot")
	f.Add("127.0.0.1.nip.io", "", "GET", "", "/snapshot")
	f.Add("[::1]:8444", "http://attacker.example", "GET", "", "/snapshot")
	f.Add("localhost", "null", "POST", "application/json", "/reset")
	f.Add("localhost", "", "POST", "text/plain", "/seed")
	f.Add("localhost", "", "POST", "application/yaml", "/faults")
	f.Add("0x7f000001", "", "GET", "", "/info")
	f.Add("2130706433", "", "GET", "", "/info")
	f.Add("127.0.0.1:80@attacker.example", "", "GET", "", "/info")
	f.Fuzz(func(t *testing.T, host, origin, method, ctype, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method+path, " \t\r\n") || method == "" {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return
		}
		reached := false
		h := guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
		req := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
		req.Method, req.Host = method, host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !reached {
			return
		}
		if !loopbackHost(host) {
			t.Fatalf("Host %q reached the admin API", host)
		}
		if h := strings.ToLower(host); !strings.Contains(h, "localhost") && !strings.Contains(h, "127.") && !strings.Contains(h, "::1") && !strings.Contains(h, "::ffff:7f") {
			t.Fatalf("Host %q reached the admin API", host)
		}
		if origin != "" && !strings.Contains(strings.ToLower(origin), "localhost") && !strings.Contains(origin, "127.") && !strings.Contains(origin, "::1") {
			t.Fatalf("Origin %q reached the admin API", origin)
		}
		if method != "GET" && method != "HEAD" && !strings.Contains(ctype, "json") && !strings.Contains(ctype, "yaml") {
			t.Fatalf("%s with Content-Type %q reached the admin API", method, ctype)
		}
	})
}
