package kvemulator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	fuzzOnce sync.Once
	fuzzSrv  *Server
	fuzzTok  string
)

// FuzzDataPlaneRequest sends arbitrary methods, paths, queries and bodies
// through the whole data-plane pipeline with a valid token: the answer is
// never a 500, and every error has the service's error shape.
func FuzzDataPlaneRequest(f *testing.F) {
	f.Add("PUT", "/secrets/a", "api-version=7.4", `{"value":"x"}`)
	f.Add("GET", "/secrets/a/", "api-version=2026-04-01", ``)
	f.Add("GET", "/secrets", "api-version=7.4&maxresults=1&$skiptoken=MQ", ``)
	f.Add("PATCH", "/secrets/a/0123", "api-version=7.4", `{"attributes":{"enabled":"no"}}`)
	f.Add("POST", "/secrets/restore", "api-version=7.4", `{"value":"AAAA"}`)
	f.Add("POST", "/keys/k/create", "api-version=7.4", `{"kty":"RSA","key_size":1}`)
	f.Add("DELETE", "/deletedsecrets/a", "api-version=7.4", ``)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		fuzzOnce.Do(func() {
			sd, err := ParseSeed([]byte("identities: [{name: admin}]\nvaults: [{name: kv1, accessPolicies: [{identity: admin, secrets: [all], keys: [all], certificates: [all]}]}]"))
			if err != nil {
				panic(err)
			}
			fuzzSrv, err = Start(context.Background(), Config{Seed: sd, DisableThrottling: true})
			if err != nil {
				panic(err)
			}
			fuzzTok, err = fuzzSrv.MintToken("admin", "https://vault.azure.net", 24*time.Hour)
			if err != nil {
				panic(err)
			}
		})
		switch method {
		case "GET", "PUT", "POST", "PATCH", "DELETE":
		default:
			return
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# \t\r\n") || strings.ContainsAny(query, "# \t\r\n") {
			return
		}
		req, err := http.NewRequest(method, "https://kv1.vault.kvcsi.test"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Host = "kv1.vault.kvcsi.test"
		req.Header.Set("Authorization", "Bearer "+fuzzTok)
		rec := httptest.NewRecorder()
		fuzzSrv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s → %d %s", method, path, query, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s → %d with a body that is not the error shape: %s", method, path, rec.Code, rec.Body.String())
			}
		}
	})
}
