package arm

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/entra"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

const tenant = "11111111-1111-1111-1111-111111111111"

func setup(t *testing.T, sub *store.Subscription) (*Handler, func(aud string) string) {
	t.Helper()
	st := store.NewState()
	st.Tenants = []store.Tenant{{ID: tenant, Name: "contoso", Subscription: sub}, {ID: "33333333-3333-3333-3333-333333333333", Subscription: &store.Subscription{ID: "other"}}}
	is, err := entra.NewIssuer("")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Store: store.New(st, "", slog.New(slog.DiscardHandler)), Tokens: is, Hosts: []string{"management.kvcsi.test"}}
	id := store.Identity{Name: "app", TenantID: tenant, ClientID: "c", ObjectID: "o"}
	return h, func(aud string) string {
		tok, _, err := is.Issue(id, aud, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func get(h *Handler, path, tok string) (*httptest.ResponseRecorder, map[string]any) {
	r := httptest.NewRequest("GET", "https://management.azure.com"+path, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestSubscriptionsAndTenantsOfTheTokensTenant(t *testing.T) {
	h, token := setup(t, &store.Subscription{ID: "22222222-2222-2222-2222-222222222222", Name: "contoso-subscription"})
	for _, aud := range []string{"https://management.core.windows.net/", "https://management.azure.com/", "https://management.kvcsi.test"} {
		w, body := get(h, "/subscriptions?api-version=2019-11-01", token(aud))
		subs, _ := body["value"].([]any)
		if w.Code != http.StatusOK || len(subs) != 1 {
			t.Fatalf("aud %s: %d %s", aud, w.Code, w.Body)
		}
		s := subs[0].(map[string]any)
		if s["subscriptionId"] != "22222222-2222-2222-2222-222222222222" || s["tenantId"] != tenant || s["state"] != "Enabled" || s["displayName"] != "contoso-subscription" {
			t.Fatalf("subscription %v", s)
		}
	}
	tok := token("https://management.azure.com/")
	if w, body := get(h, "/subscriptions/22222222-2222-2222-2222-222222222222?api-version=2022-12-01", tok); w.Code != 200 || body["id"] != "/subscriptions/22222222-2222-2222-2222-222222222222" {
		t.Fatalf("get subscription: %d %s", w.Code, w.Body)
	}
	if w, body := get(h, "/subscriptions/other?api-version=2022-12-01", tok); w.Code != 404 || errCode(body) != "SubscriptionNotFound" {
		t.Fatalf("another tenant's subscription: %d %s", w.Code, w.Body)
	}
	w, body := get(h, "/tenants?api-version=2022-12-01", tok)
	ts, _ := body["value"].([]any)
	if w.Code != 200 || len(ts) != 1 || ts[0].(map[string]any)["tenantId"] != tenant {
		t.Fatalf("tenants: %d %s", w.Code, w.Body)
	}
}

func TestNoSubscription(t *testing.T) {
	h, token := setup(t, nil)
	w, body := get(h, "/subscriptions?api-version=2019-11-01", token("https://management.azure.com"))
	if subs, ok := body["value"].([]any); w.Code != 200 || !ok || len(subs) != 0 {
		t.Fatalf("want an empty list: %d %s", w.Code, w.Body)
	}
}

func TestARMErrors(t *testing.T) {
	h, token := setup(t, nil)
	for _, tc := range []struct {
		name, path, tok string
		status          int
		code            string
	}{
		{"no token", "/subscriptions?api-version=2019-11-01", "", 401, "AuthenticationFailed"},
		{"bad token", "/subscriptions?api-version=2019-11-01", "not-a-jwt", 401, "InvalidAuthenticationToken"},
		{"vault token", "/subscriptions?api-version=2019-11-01", token("https://vault.azure.net"), 401, "InvalidAuthenticationTokenAudience"},
		{"no api-version", "/subscriptions", token("https://management.azure.com"), 400, "MissingApiVersionParameter"},
		{"not emulated", "/subscriptions/x/resourceGroups?api-version=2021-04-01", token("https://management.azure.com"), 404, "NotFound"},
	} {
		w, body := get(h, tc.path, tc.tok)
		if w.Code != tc.status || errCode(body) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
		if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without a challenge", tc.name)
		}
	}
}
