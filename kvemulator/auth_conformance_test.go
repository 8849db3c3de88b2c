package kvemulator_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kvcsi/kvcsi/kvemulator"
)

const saIssuer = "https://oidc.kvcsi.test/cluster"

// serviceAccountToken signs a Kubernetes-style projected token.
func serviceAccountToken(t *testing.T, key *rsa.PrivateKey, iss, sub, aud string, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWorkloadIdentityCredentialWithTokenFile(t *testing.T) {
	t.Parallel()
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := startEmu(t, func(c *kvemulator.Config) {
		c.ServiceAccountIssuer = saIssuer
		c.ServiceAccountKeys = []crypto.PublicKey{&saKey.PublicKey}
	})
	dir := t.TempDir()
	write := func(name, tok string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cred := func(file string) *azidentity.WorkloadIdentityCredential {
		c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: e.clientOptions(), ClientID: workloadClient, TenantID: tenantID, TokenFilePath: file,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := write("good", serviceAccountToken(t, saKey, saIssuer, "system:serviceaccount:default:workload-identity-sa", "api://AzureADTokenExchange", time.Now().Add(time.Hour)))
	s, err := e.secrets("kv1", cred(good)).GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("workload identity get: %v %v", s.Value, err)
	}
	cs := e.counters()
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Identity: "workload-app", Status: 200}); n != 1 {
		t.Fatalf("want one GET by workload-app: %+v", cs)
	}

	for name, tok := range map[string]string{
		"other subject":  serviceAccountToken(t, saKey, saIssuer, "system:serviceaccount:default:someone-else", "api://AzureADTokenExchange", time.Now().Add(time.Hour)),
		"wrong audience": serviceAccountToken(t, saKey, saIssuer, "system:serviceaccount:default:workload-identity-sa", "https://kubernetes.default.svc", time.Now().Add(time.Hour)),
		"wrong issuer":   serviceAccountToken(t, saKey, "https://evil.example", "system:serviceaccount:default:workload-identity-sa", "api://AzureADTokenExchange", time.Now().Add(time.Hour)),
		"expired":        serviceAccountToken(t, saKey, saIssuer, "system:serviceaccount:default:workload-identity-sa", "api://AzureADTokenExchange", time.Now().Add(-time.Minute)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.secrets("kv1", cred(write(strings.ReplaceAll(name, " ", "-"), tok))).GetSecret(ctx, "db-password", "", nil)
			if err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Fatalf("want invalid_client, got %v", err)
			}
		})
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := write("forged", serviceAccountToken(t, otherKey, saIssuer, "system:serviceaccount:default:workload-identity-sa", "api://AzureADTokenExchange", time.Now().Add(time.Hour)))
	if _, err := e.secrets("kv1", cred(forged)).GetSecret(ctx, "db-password", "", nil); err == nil || !strings.Contains(err.Error(), "AADSTS700024") {
		t.Fatalf("forged assertion: want AADSTS700024, got %v", err)
	}
}

func TestManagedIdentityOverIMDS(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	for _, tc := range []struct {
		name     string
		id       azidentity.ManagedIDKind
		identity string
	}{
		{"default identity", nil, "node-identity"},
		{"client id", azidentity.ClientID(userClientID), "user-identity"},
		{"object id", azidentity.ObjectID("bbbbbbbb-0000-0000-0000-000000000006"), "user-identity"},
		{"resource id", azidentity.ResourceID("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/azurekeyvaultsecretsprovider-cluster"), "node-identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: e.clientOptions(), ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Admin().ResetCounters(); err != nil {
				t.Fatal(err)
			}
			s, err := e.secrets("kv1", cred).GetSecret(ctx, "db-password", "", nil)
			if err != nil || *s.Value != "second-password" {
				t.Fatalf("get: %v %v", s.Value, err)
			}
			cs := e.counters()
			if n := sum(cs, kvemulator.CounterKey{Op: "IMDSToken", Identity: tc.identity, Status: 200}); n != 1 {
				t.Fatalf("want 1 IMDS token for %s: %+v", tc.identity, cs)
			}
		})
	}
	cred, _ := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: e.clientOptions(), ID: azidentity.ClientID("99999999-0000-0000-0000-000000000000")})
	if _, err := e.secrets("kv1", cred).GetSecret(ctx, "db-password", "", nil); err == nil || !strings.Contains(err.Error(), "Identity not found") {
		t.Fatalf("unknown client id: want Identity not found, got %v", err)
	}
}

func TestIMDSRequiresMetadataHeader(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	resp, err := http.Get(e.IMDSURL() + "?api-version=2018-02-01&resource=https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Required metadata header not specified") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// App Service style needs the environment, so this test is not parallel.
func TestManagedIdentityOverIdentityEndpoint(t *testing.T) {
	e := startEmu(t)
	url, header := e.IdentityEndpoint()
	t.Setenv("IDENTITY_ENDPOINT", url)
	t.Setenv("IDENTITY_HEADER", header)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: e.clientOptions(), ID: azidentity.ClientID(userClientID)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.secrets("kv1", cred).GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("get: %v %v", s.Value, err)
	}
	cs := e.counters()
	if n := sum(cs, kvemulator.CounterKey{Op: "AppServiceToken", Identity: "user-identity", Status: 200}); n != 1 {
		t.Fatalf("want 1 App Service token: %+v", cs)
	}
	if n := sum(cs, kvemulator.CounterKey{Op: "IMDSToken"}); n != 0 {
		t.Fatalf("IMDS must not be used with IDENTITY_ENDPOINT: %+v", cs)
	}
	req, _ := http.NewRequest("GET", url+"?api-version=2019-08-01&resource=https://vault.azure.net", nil)
	req.Header.Set("X-IDENTITY-HEADER", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong identity header: %d", resp.StatusCode)
	}
}

func TestPodIdentityNMI(t *testing.T) {
	t.Parallel()
	e := startEmu(t, func(c *kvemulator.Config) { c.NMIAddr = "127.0.0.1:0"; c.IMDSAddr = "127.0.0.1:0" })
	if !strings.Contains(e.NMIURL(), "127.0.0.1:") || e.IMDSURL() == "" {
		t.Fatalf("NMI %s IMDS %s", e.NMIURL(), e.IMDSURL())
	}
	imdsReq, _ := http.NewRequest("GET", e.IMDSURL()+"?api-version=2018-02-01&resource=https://vault.azure.net", nil)
	imdsReq.Header.Set("Metadata", "true")
	if resp, err := http.DefaultClient.Do(imdsReq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("IMDS listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	get := func(ns, pod string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.NMIURL()+"/host/token/?resource=https://vault.azure.net", nil)
		req.Header.Set("podns", ns)
		req.Header.Set("podname", pod)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	resp, body := get("default", "busybox-secrets-store-inline")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var out struct {
		Token struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
		} `json:"token"`
		ClientID string `json:"clientid"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ClientID != userClientID || out.Token.AccessToken == "" || out.Token.ExpiresOn == "" {
		t.Fatalf("NMI response %s (%v)", body, err)
	}
	// The token works on the data plane (user-identity may get).
	req, _ := http.NewRequest("GET", e.VaultURL("kv1")+"secrets/db-password/?api-version=7.4", nil)
	req.Header.Set("Authorization", "Bearer "+out.Token.AccessToken)
	r2, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("data plane with NMI token: %d", r2.StatusCode)
	}
	if resp, _ := get("other-ns", "pod"); resp.StatusCode != 403 {
		t.Fatalf("unmapped pod: %d", resp.StatusCode)
	}
}

func rawGet(t *testing.T, e *emu, url, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func errCode(body map[string]any) (code, inner, msg string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	if in, ok := e["innererror"].(map[string]any); ok {
		inner, _ = in["code"].(string)
	}
	return
}

func TestChallengeHeader(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	resp, body := rawGet(t, e, e.VaultURL("kv1")+"secrets/db-password/?api-version=2026-04-01", "")
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, port := splitPort(e.Addr())
	want := `Bearer authorization="https://login.kvcsi.test:` + port + `/` + tenantID + `", resource="https://vault.kvcsi.test:` + port + `"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Fatalf("challenge\n got %s\nwant %s", got, want)
	}
	if code, _, msg := errCode(body); code != "Unauthorized" || msg != "AKV10000: Request is missing a Bearer or PoP token." {
		t.Fatalf("body %v", body)
	}
	// Port-less public name (AzureNames): resource without a port.
	req, _ := http.NewRequest("GET", "https://kv1.vault.azure.net/secrets/x?api-version=7.4", nil)
	resp2, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if got := resp2.Header.Get("WWW-Authenticate"); got != `Bearer authorization="https://login.microsoftonline.com/`+tenantID+`", resource="https://vault.azure.net"` {
		t.Fatalf("public-name challenge %s", got)
	}
}

func splitPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

func TestTokenChecks(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	url := e.VaultURL("kv1") + "secrets/db-password/?api-version=7.4"
	expired, _ := e.MintToken("app-reader", "https://vault.azure.net", -time.Minute)
	wrongAud, _ := e.MintToken("app-reader", "https://management.azure.com", time.Hour)
	good, _ := e.MintToken("app-reader", "https://vault.azure.net", time.Hour)
	for _, tc := range []struct {
		name, token string
		status      int
		msg         string
	}{
		{"expired", expired, 401, "expired"},
		{"wrong audience", wrongAud, 401, "Invalid audience"},
		{"bad signature", good[:len(good)-4] + "AAAA", 401, "signature"},
		{"garbage", "not-a-jwt", 401, "could not be validated"},
		{"good", good, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawGet(t, e, url, tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			if tc.status == 401 {
				if _, _, msg := errCode(body); !strings.Contains(msg, tc.msg) {
					t.Fatalf("message %q, want %q", msg, tc.msg)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without challenge")
				}
			}
		})
	}
}

func TestBadInputIs400AndStoresNothing(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	tok, _ := e.MintToken("app-admin", "https://vault.azure.net", time.Hour)
	big := `{"value":"` + strings.Repeat("x", kvemulator.MaxSecretBytes+1) + `"}`
	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"malformed json", "PUT", "secrets/bad-json?api-version=7.4", `{"value":`, "not valid JSON"},
		{"wrong type", "PUT", "secrets/bad-type?api-version=7.4", `{"value":5}`, `field "value"`},
		{"no value", "PUT", "secrets/no-value?api-version=7.4", `{}`, `no "value"`},
		{"unknown api-version", "PUT", "secrets/bad-version?api-version=1.0", `{"value":"x"}`, "(1.0) is not recognized"},
		{"missing api-version", "GET", "secrets/db-password/", ``, "api-version query parameter is missing"},
		{"bad name", "PUT", "secrets/bad_name?api-version=7.4", `{"value":"x"}`, "invalid"},
		{"oversized value", "PUT", "secrets/too-big?api-version=7.4", big, "limit is 25600 bytes"},
		{"bad maxresults", "GET", "secrets?api-version=7.4&maxresults=26", ``, "maxresults"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.VaultURL("kv1")+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			code, _, msg := errCode(body)
			if resp.StatusCode != 400 || code != "BadParameter" || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %s %q, want 400 BadParameter mentioning %q", resp.StatusCode, code, msg, tc.want)
			}
		})
	}
	st, err := e.Admin().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Vaults["kv1"].Secrets); n != 2 {
		t.Fatalf("kv1 has %d secrets after bad requests, want the 2 seeded", n)
	}
}

func TestUnknownVaultAndHost(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	resp, body := rawGet(t, e, e.VaultURL("nosuchvault")+"secrets/x?api-version=7.4", "")
	if code, _, _ := errCode(body); resp.StatusCode != 404 || code != "VaultNotFound" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

var versionRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestAdminSetSecretRotates(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	ver, err := e.Admin().SetSecret("kv1", "db-password", "third-password")
	if err != nil || !versionRE.MatchString(ver) {
		t.Fatalf("SetSecret: %q %v", ver, err)
	}
	s, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "third-password" || s.ID.Version() != ver {
		t.Fatalf("after rotation: %v %v", s.Value, err)
	}
	if err := e.Admin().Reset(); err != nil {
		t.Fatal(err)
	}
	s, err = c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("after reset: %v %v", s.Value, err)
	}
}

func TestPersistenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsDir := t.TempDir()
	cfgFn := func(c *kvemulator.Config) { c.StateDir = dir; c.TLSDir = tlsDir }
	e := startEmu(t, cfgFn)
	ver, err := e.Admin().SetSecret("kv1", "persisted", "kept")
	if err != nil {
		t.Fatal(err)
	}
	ca := e.CACertPEM()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := startEmu(t, cfgFn)
	if string(e2.CACertPEM()) != string(ca) {
		t.Fatal("the CA must be reused from the TLS directory")
	}
	st, err := e2.Admin().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	obj := st.Vaults["kv1"].Secrets["persisted"]
	if obj == nil || obj.Latest().Version != ver || obj.Latest().Value != "kept" {
		t.Fatalf("state not restored: %+v", obj)
	}
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
}
