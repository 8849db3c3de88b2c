package kvemulator_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// Access tokens look like Entra's v1 tokens: aud is one string, ver is
// "1.0", and nothing the emulator keeps for itself is in them.
func TestTokenClaimsAreEntras(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {readerClientID}, "client_secret": {"reader-client-secret"}, "scope": {"https://vault.azure.net/.default"}}
	resp, err := e.HTTPClient().PostForm(e.AuthorityHost()+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatal("the access token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if aud, ok := claims["aud"].(string); !ok || aud != "https://vault.azure.net" {
		t.Errorf("aud = %#v, want the string https://vault.azure.net", claims["aud"])
	}
	if claims["ver"] != "1.0" || claims["appid"] != readerClientID || claims["tid"] != tenantID || claims["iss"] != "https://sts.windows.net/"+tenantID+"/" {
		t.Errorf("claims %v", claims)
	}
	entra := map[string]bool{"aud": true, "iss": true, "iat": true, "nbf": true, "exp": true, "appid": true, "idtyp": true, "oid": true, "sub": true, "tid": true, "uti": true, "ver": true}
	for k := range claims {
		if !entra[k] {
			t.Errorf("claim %q is not one Entra sends", k)
		}
	}
	// The data plane still knows who called, from its own records.
	if _, err := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret")).GetSecret(ctx, "db-password", "", nil); err != nil {
		t.Fatal(err)
	}
	if n := sum(e.counters(), kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Identity: "app-reader", Status: http.StatusOK}); n != 1 {
		t.Errorf("GetSecret counted %d times for app-reader, want 1", n)
	}
}

// The 403 names the vault's region: the seed's location, eastus by default.
func TestForbiddenNamesTheVaultLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ location, want string }{{"", "eastus"}, {"westeurope", "westeurope"}} {
		e := startEmu(t, func(c *kvemulator.Config) {
			for i := range c.Seed.Vaults {
				c.Seed.Vaults[i].Location = tc.location
			}
		})
		_, err := e.secrets("kv1", e.secretCred(outsiderClient, "outsider-client-secret")).GetSecret(ctx, "db-password", "", nil)
		wantCode(t, err, http.StatusForbidden, "Forbidden")
		if !strings.Contains(err.Error(), "on key vault 'kv1;location="+tc.want+"'") {
			t.Errorf("location %q: %v", tc.location, err)
		}
	}
}

// A created certificate's operation answers inProgress, with Retry-After,
// for Config.CertificateCreateDelay; a negative delay completes it on the
// first poll.
func TestCertificateCreateDelay(t *testing.T) {
	t.Parallel()
	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: ptr("Self")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=delayed")},
	}
	for _, tc := range []struct {
		delay time.Duration
		want  string
	}{{time.Hour, "inProgress"}, {-1, "completed"}} {
		e := startEmu(t, func(c *kvemulator.Config) { c.CertificateCreateDelay = tc.delay })
		cc := e.certsClient("kv1")
		if _, err := cc.CreateCertificate(ctx, "delayed", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil); err != nil {
			t.Fatal(err)
		}
		var raw *http.Response
		op, err := cc.GetCertificateOperation(azpolicy.WithCaptureResponse(ctx, &raw), "delayed", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *op.Status != tc.want {
			t.Fatalf("delay %v: status %s, want %s", tc.delay, *op.Status, tc.want)
		}
		if tc.want == "inProgress" && (op.Target != nil || raw.Header.Get("Retry-After") != "3600") {
			t.Errorf("pending: target %v, Retry-After %q (want 3600)", op.Target, raw.Header.Get("Retry-After"))
		}
	}
}

// A policy naming an issuer the vault does not have is refused; once the
// issuer exists the name is accepted by the issuer check.
func TestCertificateWithMissingIssuer(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	cc := e.certsClient("kv1")
	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: ptr("my-ca")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=issued")},
	}
	_, err := cc.CreateCertificate(ctx, "issued", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	if !strings.Contains(err.Error(), "Issuer not found") {
		t.Fatalf("missing issuer: %v", err)
	}
	if _, err := cc.GetCertificate(ctx, "issued", "", nil); err == nil {
		t.Fatal("a refused certificate was stored")
	}
}

// A path the emulator does not serve answers in the shape of the host's
// service: Key Vault's {"error":{"code","message"}}, Entra's OAuth error,
// ARM's error — never a bare text page.
func TestUnknownPathsAnswerInTheServicesShape(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	tok, err := e.MintToken("app-admin", "https://vault.azure.net", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	armTok, err := e.MintToken("app-admin", "https://management.azure.com/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, url, token string
		status             int
		code               string // error.code (Key Vault, ARM) or error (Entra)
	}{
		{"GET", e.AzureVaultURL("kv1") + "no/such/path?api-version=7.4", tok, 404, "NotFound"},
		{"POST", e.AzureVaultURL("kv1") + "secrets/x/y/z?api-version=7.4", tok, 404, "NotFound"},
		{"GET", e.AzureVaultURL("kv1") + "no/such/path?api-version=7.4", "", 401, "Unauthorized"},
		{"GET", e.AzureVaultURL("kv1") + "no/such/path", tok, 400, "BadParameter"},
		{"GET", "https://login.microsoftonline.com/no/such/path", "", 404, "invalid_request"},
		{"GET", "https://management.azure.com/providers?api-version=2021-04-01", armTok, 404, "NotFound"},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := e.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		derr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		code, _ := body["error"].(string)
		if m, ok := body["error"].(map[string]any); ok {
			code, _ = m["code"].(string)
			if msg, _ := m["message"].(string); msg == "" {
				t.Errorf("%s %s: error without a message", tc.method, tc.url)
			}
		}
		if derr != nil || resp.StatusCode != tc.status || code != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %q (%v, %s), want %d %s in JSON", tc.method, tc.url, resp.StatusCode, code, derr, resp.Header.Get("Content-Type"), tc.status, tc.code)
		}
	}
}
