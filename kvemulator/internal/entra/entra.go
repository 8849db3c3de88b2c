package entra

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Entra ID (login host): OIDC metadata, instance discovery, the v2.0 token
// endpoint for client credentials (secret or assertion) and the signing keys.

// oauthError is the Entra error body.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes,omitempty"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

func writeOAuthError(w http.ResponseWriter, status int, code string, aadsts int, format string, a ...any) {
	desc := fmt.Sprintf(format, a...)
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, desc)
	}
	e := oauthError{Error: code, ErrorDescription: desc, Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05Z"), TraceID: uuid.NewString(), CorrelationID: uuid.NewString()}
	if aadsts != 0 {
		e.ErrorCodes = []int{aadsts}
	}
	kverr.WriteJSON(w, status, e)
}

const defaultTokenTTL = time.Hour

func (s *Service) LoginHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	mux.HandleFunc("GET /{tenant}/discovery/instance", s.instanceDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.discoveryKeys)
	mux.HandleFunc("GET /{tenant}/discovery/keys", s.discoveryKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.tokenEndpoint)
	mux.HandleFunc("POST /{tenant}/oauth2/token", s.tokenEndpoint) // v1 (ADAL): resource= instead of scope=
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeOAuthError(w, http.StatusNotFound, "invalid_request", 0, "%s %s is not an endpoint of this emulator's login host", r.Method, r.URL.Path)
	})
	return mux
}

// tenantOf resolves a tenant path segment (GUID or name); "" when unknown.
func (s *Service) tenantOf(seg string) string {
	var id string
	_ = s.Store.View(func(st *store.State) error {
		for _, t := range st.Tenants {
			if strings.EqualFold(t.ID, seg) || (t.Name != "" && strings.EqualFold(t.Name, seg)) {
				id = t.ID
			}
		}
		return nil
	})
	return id
}

func (s *Service) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	tenant := s.tenantOf(seg)
	if tenant == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '%s' not found. Check the tenant id; the emulator's tenants are declared under tenants: in the seed.", kverr.Truncate(seg, 64))
		return
	}
	base := "https://" + r.Host + "/" + seg
	s.Counters.Add(faults.CounterKey{Op: "OpenIDConfiguration", Status: 200})
	kverr.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                "https://" + r.Host + "/" + tenant + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// instanceDiscovery answers MSAL's discovery for whatever authority host the
// client uses (MSAL sends it to login.microsoftonline.com for unknown hosts).
func (s *Service) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	ae := r.URL.Query().Get("authorization_endpoint")
	u, err := url.Parse(ae)
	if ae == "" || err != nil || u.Host == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_instance", 50049, "authorization_endpoint %q is not an absolute URL", kverr.Truncate(ae, 200))
		return
	}
	host := u.Host
	tenant := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")[0]
	s.Counters.Add(faults.CounterKey{Op: "InstanceDiscovery", Status: 200})
	kverr.WriteJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

func (s *Service) discoveryKeys(w http.ResponseWriter, r *http.Request) {
	kverr.WriteJSON(w, http.StatusOK, s.Tokens.JWKS())
}

// resourceFromScope turns "https://vault.azure.net/.default" into the audience.
func resourceFromScope(scope string) string {
	for _, sc := range strings.Fields(scope) {
		if res, ok := strings.CutSuffix(sc, "/.default"); ok {
			return res
		}
	}
	return ""
}

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenEndpoint issues tokens for client credentials: a client secret, or a
// client assertion that is a service-account token matched against the
// identity's federated credentials.
func (s *Service) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	var who string
	defer func() { s.Counters.Add(faults.CounterKey{Op: "Token", Identity: who, Status: status}) }()
	fail := func(st int, code string, aadsts int, format string, a ...any) {
		status = st
		writeOAuthError(w, st, code, aadsts, format, a...)
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded: %v", err)
		return
	}
	seg := r.PathValue("tenant")
	tenant := s.tenantOf(seg)
	if tenant == "" {
		fail(http.StatusBadRequest, "invalid_request", 90002, "Tenant '%s' not found. Check the tenant id in the authority.", kverr.Truncate(seg, 64))
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'; this emulator supports client_credentials.", kverr.Truncate(gt, 64))
		return
	}
	resource := resourceFromScope(r.PostForm.Get("scope"))
	if resource == "" && !strings.Contains(r.URL.Path, "/v2.0/") {
		resource = strings.TrimSuffix(r.PostForm.Get("resource"), "/")
	}
	if resource == "" {
		fail(http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope %q is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", kverr.Truncate(r.PostForm.Get("scope"), 200))
		return
	}
	clientID := r.PostForm.Get("client_id")
	id, ok := s.Store.IdentityBy(func(i *store.Identity) bool {
		return i.Type == store.IdentityServicePrincipal && strings.EqualFold(i.ClientID, clientID) && strings.EqualFold(i.TenantID, tenant)
	})
	if clientID == "" || !ok {
		fail(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'.", kverr.Truncate(clientID, 64), tenant)
		return
	}
	who = id.Name
	secret, assertion := r.PostForm.Get("client_secret"), r.PostForm.Get("client_assertion")
	switch {
	case secret != "":
		if !secretMatches(id.Secrets, secret) {
			fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id.ClientID)
			return
		}
	case assertion != "":
		if t := r.PostForm.Get("client_assertion_type"); t != clientAssertionType {
			fail(http.StatusBadRequest, "invalid_request", 700024, "client_assertion_type must be %s, not %q.", clientAssertionType, kverr.Truncate(t, 100))
			return
		}
		claims, err := s.verifyServiceAccountToken(assertion)
		if err != nil {
			fail(http.StatusBadRequest, "invalid_client", 700024, "Client assertion is not valid: %v.", err)
			return
		}
		if !s.federationMatches(id, claims.Issuer, claims.Subject, claims.Audience) {
			fail(http.StatusBadRequest, "invalid_client", 70021, "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", claims.Issuer, claims.Subject, strings.Join(claims.Audience, ","))
			return
		}
	default:
		fail(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	tok, exp, err := s.Tokens.Issue(id, resource, s.tokenTTL(), time.Now())
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", 0, "signing the token failed")
		return
	}
	ttl := int(time.Until(exp).Seconds())
	kverr.WriteJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": tok})
}

func secretMatches(secrets []string, given string) bool {
	ok := false
	for _, s := range secrets {
		if subtle.ConstantTimeCompare([]byte(s), []byte(given)) == 1 {
			ok = true
		}
	}
	return ok
}

func (s *Service) federationMatches(id store.Identity, iss, sub string, aud []string) bool {
	for _, fc := range id.FederatedCredentials {
		wantIss := fc.Issuer
		if wantIss == "" {
			wantIss = s.SAIssuer
		}
		if wantIss != iss || fc.Subject != sub {
			continue
		}
		auds := fc.Audiences
		if len(auds) == 0 {
			auds = []string{"api://AzureADTokenExchange"}
		}
		for _, a := range aud {
			for _, b := range auds {
				if a == b {
					return true
				}
			}
		}
	}
	return false
}

func (s *Service) tokenTTL() time.Duration {
	if d := s.ttl.Load(); d > 0 {
		return time.Duration(d)
	}
	return defaultTokenTTL
}

// MintToken signs an access token for a seeded identity (by name) with any
// audience and lifetime — negative for an already expired one. Tests use it
// for the cases real credentials never produce.
func (s *Service) MintToken(identity, audience string, ttl time.Duration) (string, error) {
	id, ok := s.Store.IdentityBy(func(i *store.Identity) bool { return i.Name == identity })
	if !ok {
		return "", fmt.Errorf("identity %q is not in the seed", identity)
	}
	tok, _, err := s.Tokens.Issue(id, audience, ttl, time.Now())
	return tok, err
}

// Service is the login host and the managed-identity endpoints over one store.
type Service struct {
	Store    *store.Store
	Tokens   *Issuer
	Counters *faults.Counters
	SAKeys   []crypto.PublicKey // service-account issuer keys (workload identity)
	SAIssuer string             // expected iss of workload-identity assertions; "" = any
	ttl      atomic.Int64       // token lifetime override, ns; 0 = default
}

// SetTokenTTL overrides the lifetime of issued tokens; 0 restores the default.
func (s *Service) SetTokenTTL(d time.Duration) { s.ttl.Store(int64(d)) }

// Key is the token signing key (the backup sealing key derives from it).
func (is *Issuer) Key() *rsa.PrivateKey { return is.key }
