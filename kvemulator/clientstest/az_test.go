package clientstest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
)

const (
	tenantID      = "11111111-1111-1111-1111-111111111111"
	subscription  = "22222222-2222-2222-2222-222222222222" // the seed's subscription of contoso
	adminClientID = "aaaaaaaa-0000-0000-0000-000000000002"
)

// az runs Debian's azure-cli against the emulator: testdata/pyresolve sends
// the public cloud's names to it, its CA is trusted through
// REQUESTS_CA_BUNDLE, and everything az writes (profile, token cache) goes to
// a temporary AZURE_CONFIG_DIR. names are the host names sent to the
// emulator (default: the public cloud's).
type az struct {
	t   *testing.T
	bin string
	env []string
}

func newAz(t *testing.T, s *kvemulator.Server, names ...string) *az {
	t.Helper()
	bin, err := exec.LookPath("az")
	if err != nil {
		t.Skip("needs Debian's azure-cli (apt-get install azure-cli): az is not on PATH")
	}
	if len(names) == 0 {
		names = []string{"vault.azure.net", "login.microsoftonline.com", "management.azure.com"}
	}
	env := append(pythonEnv(t, s, names...),
		"AZURE_CONFIG_DIR="+t.TempDir(),
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_SURVEY_MESSAGE=false",
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_ONLY_SHOW_ERRORS=true",
	)
	return &az{t: t, bin: bin, env: env}
}

// run runs az and returns stdout; it fails the test with stderr.
func (a *az) run(args ...string) []byte {
	a.t.Helper()
	out, stderr, err := a.try(args...)
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s", redact(args), err, stderr)
	}
	return out
}

func (a *az) try(args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(a.bin, args...)
	cmd.Env = a.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// redact keeps the client secret out of failure messages.
func redact(args []string) string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && (out[i-1] == "-p" || out[i-1] == "--password") {
			out[i] = "***"
		}
	}
	return strings.Join(out, " ")
}

type azAccount struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	Name     string `json:"name"`
	State    string `json:"state"`
	User     struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"user"`
}

// TestAzureCLILoginAndRest: az login --service-principal lists the seed's
// subscription through ARM (management.azure.com), and az rest reads and
// writes a secret with a token for https://vault.azure.net.
func TestAzureCLILoginAndRest(t *testing.T) {
	s := startEmulator(t)
	a := newAz(t, s)

	var accounts []azAccount
	if err := json.Unmarshal(a.run("login", "--service-principal", "-u", adminClientID, "-p", "admin-client-secret", "--tenant", tenantID, "-o", "json"), &accounts); err != nil {
		t.Fatalf("az login output: %v", err)
	}
	if len(accounts) != 1 || accounts[0].ID != subscription || accounts[0].TenantID != tenantID || accounts[0].State != "Enabled" ||
		accounts[0].User.Name != adminClientID || accounts[0].User.Type != "servicePrincipal" {
		t.Fatalf("az login: %+v, want the seed's subscription %s for %s", accounts, subscription, adminClientID)
	}
	var current azAccount
	if err := json.Unmarshal(a.run("account", "show", "-o", "json"), &current); err != nil || current.ID != subscription || current.Name != "contoso-subscription" {
		t.Fatalf("az account show: %+v %v", current, err)
	}

	url := "https://kv1.vault.azure.net/secrets/set-by-az?api-version=7.4"
	a.run("rest", "--method", "put", "--url", url, "--resource", "https://vault.azure.net", "--body", `{"value":"from-the-cli","contentType":"text/plain"}`, "-o", "json")
	var got struct {
		Value       string `json:"value"`
		ID          string `json:"id"`
		ContentType string `json:"contentType"`
	}
	if err := json.Unmarshal(a.run("rest", "--method", "get", "--url", url, "--resource", "https://vault.azure.net", "-o", "json"), &got); err != nil {
		t.Fatalf("az rest get: %v", err)
	}
	if got.Value != "from-the-cli" || got.ContentType != "text/plain" || !strings.HasPrefix(got.ID, "https://kv1.vault.azure.net/secrets/set-by-az/") {
		t.Fatalf("az rest get: id %s contentType %s, want the secret az set", got.ID, got.ContentType)
	}

	// A secret az's identity may not read: the service's 403 reaches the user.
	_, stderr, err := a.try("rest", "--method", "get", "--url", "https://kv1.vault.azure.net/secrets/missing-one?api-version=7.4", "--resource", "https://vault.azure.net")
	if err == nil || !strings.Contains(string(stderr), "SecretNotFound") {
		t.Fatalf("az rest get of a missing secret: err %v, stderr %s; want SecretNotFound", err, stderr)
	}
}

// TestAzureCLILoginWithoutSubscriptions: a tenant with no subscription in the
// seed needs --allow-no-subscriptions, as with the service.
func TestAzureCLILoginWithoutSubscriptions(t *testing.T) {
	s := startEmulator(t, func(c *kvemulator.Config) {
		for i := range c.Seed.Tenants {
			c.Seed.Tenants[i].Subscription = nil
		}
	})
	a := newAz(t, s)
	args := []string{"login", "--service-principal", "-u", adminClientID, "-p", "admin-client-secret", "--tenant", tenantID, "-o", "json"}
	if _, stderr, err := a.try(args...); err == nil || !strings.Contains(string(stderr), "No subscriptions found") {
		t.Fatalf("az login without subscriptions: err %v, stderr %s; want \"No subscriptions found\"", err, stderr)
	}
	var accounts []azAccount
	if err := json.Unmarshal(a.run(append(args, "--allow-no-subscriptions")...), &accounts); err != nil {
		t.Fatalf("az login --allow-no-subscriptions output: %v", err)
	}
	if len(accounts) != 1 || accounts[0].ID != tenantID || accounts[0].TenantID != tenantID {
		t.Fatalf("az login --allow-no-subscriptions: %+v, want the tenant-level account %s", accounts, tenantID)
	}
	a.run("rest", "--method", "get", "--url", "https://kv1.vault.azure.net/secrets/db-password?api-version=7.0", "--resource", "https://vault.azure.net", "-o", "none")
}

// TestAzureCLICustomCloud: az reaches the emulator's own names through a
// registered cloud (management.kvcsi.test, login.kvcsi.test,
// *.vault.kvcsi.test). MSAL still asks login.microsoftonline.com for instance
// discovery of an authority it does not know, so that name must reach the
// emulator too (as for the Go SDK with default options).
func TestAzureCLICustomCloud(t *testing.T) {
	s := startEmulator(t)
	a := newAz(t, s, "vault.kvcsi.test", "login.kvcsi.test", "management.kvcsi.test", "login.microsoftonline.com")
	mgmt := strings.TrimSuffix(s.ManagementURL(), "/")
	// The rest of the endpoints come from ARM's metadata document.
	a.run("cloud", "register", "-n", "kvemulator", "--endpoint-resource-manager", mgmt+"/", "--suffix-keyvault-dns", ".vault.kvcsi.test")
	a.run("cloud", "set", "-n", "kvemulator")
	var accounts []azAccount
	if err := json.Unmarshal(a.run("login", "--service-principal", "-u", adminClientID, "-p", "admin-client-secret", "--tenant", tenantID, "-o", "json"), &accounts); err != nil {
		t.Fatalf("az login output: %v", err)
	}
	if len(accounts) != 1 || accounts[0].ID != subscription {
		t.Fatalf("az login in the registered cloud: %+v", accounts)
	}
	vault := strings.TrimSuffix(s.VaultURL("kv1"), "/")
	resource := "https://vault.kvcsi.test"
	a.run("rest", "--method", "put", "--url", vault+"/secrets/custom-cloud?api-version=7.0", "--resource", resource, "--body", `{"value":"v"}`, "-o", "none")
	var got struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(a.run("rest", "--method", "get", "--url", vault+"/secrets/custom-cloud?api-version=2016-10-01", "--resource", resource, "-o", "json"), &got); err != nil || !strings.HasPrefix(got.ID, vault+"/secrets/custom-cloud/") {
		t.Fatalf("az rest get in the registered cloud: %+v %v", got, err)
	}
}
