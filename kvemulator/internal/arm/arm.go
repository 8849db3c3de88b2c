// Package arm answers the few Azure Resource Manager calls a login needs:
// az login --service-principal lists the subscriptions (and, with
// --allow-no-subscriptions, the tenants) of the signed-in identity, and az
// account reads them back. Nothing else of ARM is emulated; every other path
// gets ARM's error shape saying so.
package arm

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kvcsi/kvcsi/kvemulator/internal/entra"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Audiences ARM accepts: the resource manager URL and the classic
// management resource az requests its tokens for.
var Audiences = []string{"https://management.azure.com", "https://management.core.windows.net"}

// Handler serves ARM on the management host(s).
type Handler struct {
	Store  *store.Store
	Tokens *entra.Issuer
	// Hosts are the names this handler answers as, e.g. management.azure.com;
	// https://<host>[:port] is an accepted token audience too.
	Hosts []string
	// LoginHost maps each of Hosts to its Entra ID host, for the cloud
	// metadata (az cloud register --endpoint-resource-manager).
	LoginHost map[string]string
}

type armError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]armError{"error": {Code: code, Message: message}})
}

// unauthorized is ARM's 401 with its challenge.
func unauthorized(w http.ResponseWriter, code, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="`+message+`"`)
	writeError(w, http.StatusUnauthorized, code, message)
}

func (h *Handler) audienceOK(aud []string) bool {
	want := append([]string(nil), Audiences...)
	for _, host := range h.Hosts {
		want = append(want, "https://"+host)
	}
	for _, a := range aud {
		a = strings.TrimSuffix(a, "/")
		if u, err := url.Parse(a); err == nil && u.Scheme == "https" && u.Port() != "" && u.Path == "" {
			a = "https://" + u.Hostname()
		}
		for _, w := range want {
			if strings.EqualFold(a, w) {
				return true
			}
		}
	}
	return false
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.EqualFold(strings.Trim(r.URL.Path, "/"), "metadata/endpoints") {
		h.metadata(w, r)
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		unauthorized(w, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return
	}
	claims, err := h.Tokens.Verify(strings.TrimSpace(tok))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		unauthorized(w, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
		return
	case err != nil:
		unauthorized(w, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	if !h.audienceOK(claims.Audience) {
		unauthorized(w, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource '"+strings.Join(claims.Audience, ",")+"'. It should exactly match with one of the allowed audiences '"+strings.Join(Audiences, "/','")+"/'.")
		return
	}
	if r.Method != http.MethodGet {
		h.notServed(w, r)
		return
	}
	path := "/" + strings.Trim(strings.ToLower(r.URL.Path), "/")
	tenant := claims.TenantID
	switch {
	case path == "/subscriptions":
		subs := []map[string]any{}
		if sub, t, ok := h.subscriptionOf(tenant); ok {
			subs = append(subs, subscriptionJSON(sub, t))
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": subs, "count": map[string]any{"type": "Total", "value": len(subs)}})
	case strings.HasPrefix(path, "/subscriptions/") && !strings.Contains(strings.TrimPrefix(path, "/subscriptions/"), "/"):
		id := strings.TrimPrefix(path, "/subscriptions/")
		sub, t, ok := h.subscriptionOf(tenant)
		if !ok || !strings.EqualFold(sub.ID, id) {
			writeError(w, http.StatusNotFound, "SubscriptionNotFound", "The subscription '"+id+"' could not be found.")
			return
		}
		writeJSON(w, http.StatusOK, subscriptionJSON(sub, t))
	case path == "/tenants":
		var ts []map[string]any
		_ = h.Store.View(func(st *store.State) error {
			for _, t := range st.Tenants {
				if strings.EqualFold(t.ID, tenant) {
					ts = append(ts, tenantJSON(t))
				}
			}
			return nil
		})
		if ts == nil {
			ts = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": ts, "count": map[string]any{"type": "Total", "value": len(ts)}})
	default:
		h.notServed(w, r)
	}
}

// metadata is the cloud's endpoint document (unauthenticated, as ARM serves
// it): what az cloud register reads when given only the resource manager.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	host, port := r.Host, ""
	if hh, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = hh, p
	}
	host = strings.ToLower(host)
	login := h.LoginHost[host]
	if login == "" {
		login = "login.microsoftonline.com"
	}
	if port != "" {
		login += ":" + port
	}
	audiences := []string{"https://" + host + "/"}
	if host == "management.azure.com" {
		audiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"galleryEndpoint": "",
		"graphEndpoint":   "https://graph.windows.net/",
		"portalEndpoint":  "",
		"authentication":  map[string]any{"loginEndpoint": "https://" + login + "/", "audiences": audiences},
	})
}

func (h *Handler) notServed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "NotFound", "kvemulator answers only GET /subscriptions, /subscriptions/{id} and /tenants of Azure Resource Manager, not "+r.Method+" "+r.URL.Path+".")
}

// subscriptionOf is the tenant's subscription from the seed, if it has one.
func (h *Handler) subscriptionOf(tenant string) (store.Subscription, store.Tenant, bool) {
	var sub store.Subscription
	var ten store.Tenant
	var ok bool
	_ = h.Store.View(func(st *store.State) error {
		for _, t := range st.Tenants {
			if strings.EqualFold(t.ID, tenant) && t.Subscription != nil {
				sub, ten, ok = *t.Subscription, t, true
			}
		}
		return nil
	})
	return sub, ten, ok
}

func subscriptionJSON(sub store.Subscription, t store.Tenant) map[string]any {
	name := sub.Name
	if name == "" {
		name = "kvemulator subscription"
	}
	return map[string]any{
		"id":                   "/subscriptions/" + sub.ID,
		"authorizationSource":  "RoleBased",
		"managedByTenants":     []any{},
		"subscriptionId":       sub.ID,
		"tenantId":             t.ID,
		"displayName":          name,
		"state":                "Enabled",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
	}
}

func tenantJSON(t store.Tenant) map[string]any {
	name := t.Name
	if name == "" {
		name = t.ID
	}
	domain := strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".onmicrosoft.com"
	return map[string]any{
		"id":             "/tenants/" + t.ID,
		"tenantId":       t.ID,
		"countryCode":    "US",
		"displayName":    name,
		"domains":        []string{domain},
		"defaultDomain":  domain,
		"tenantCategory": "Home",
		"tenantType":     "AAD",
	}
}
