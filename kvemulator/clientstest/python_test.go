package clientstest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// debianPython is Debian's interpreter: python3-azure installs into its
// dist-packages, which another python3 on PATH (pyenv, venvs) does not see.
const debianPython = "/usr/bin/python3"

// pythonModules are what python3-azure must provide.
var pythonModules = []string{"azure.identity", "azure.keyvault.secrets", "azure.keyvault.keys", "azure.keyvault.certificates", "cryptography"}

func needPythonAzure(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("needs %s with Debian's python3-azure (make deps installs it): %v", debianPython, err)
	}
	out, err := exec.Command(debianPython, "-c", "import "+strings.Join(pythonModules, ", ")).CombinedOutput()
	if err != nil {
		t.Skipf("needs Debian's python3-azure (make deps installs it; apt-get install python3-azure): %s", bytes.TrimSpace(out))
	}
}

// startEmulator starts an emulator with the clients' seed and the public
// cloud's names.
func startEmulator(t *testing.T, mutate ...func(*kvemulator.Config)) *kvemulator.Server {
	t.Helper()
	sd, err := kvemulator.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := kvemulator.Config{Seed: sd, AzureNames: true}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := kvemulator.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// cleanEnv is the environment without anything that would point a client
// elsewhere (proxies, a developer's Azure settings, Python paths).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "PYTHON"), strings.HasPrefix(k, "MSAL_"),
			strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "ALL_PROXY"),
			strings.EqualFold(k, "NO_PROXY"), k == "REQUESTS_CA_BUNDLE", k == "SSL_CERT_FILE", k == "CURL_CA_BUNDLE",
			k == "IDENTITY_ENDPOINT", k == "IDENTITY_HEADER", k == "MSI_ENDPOINT", k == "IMDS_ENDPOINT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// pythonEnv makes Python processes reach the emulator by the given names:
// testdata/pyresolve's sitecustomize resolves them to its listener (no
// /etc/hosts change) and requests trusts its CA.
func pythonEnv(t *testing.T, s *kvemulator.Server, names ...string) []string {
	t.Helper()
	dir, err := filepath.Abs("testdata/pyresolve")
	if err != nil {
		t.Fatal(err)
	}
	return cleanEnv(
		"PYTHONPATH="+dir,
		"KVEMU_ADDR="+s.Addr(),
		"KVEMU_HOSTS="+strings.Join(names, ","),
		"REQUESTS_CA_BUNDLE="+s.CAFile(),
		"PYTHONDONTWRITEBYTECODE=1",
	)
}

// TestPythonConformance runs testdata/conformance.py (Debian's python3-azure
// with default client options against login.microsoftonline.com and
// <vault>.vault.azure.net) and fails with its output.
func TestPythonConformance(t *testing.T) {
	needPythonAzure(t)
	s := startEmulator(t)
	cmd := exec.Command(debianPython, "testdata/conformance.py")
	cmd.Env = append(pythonEnv(t, s, "vault.azure.net", "login.microsoftonline.com"),
		"KVEMU_TENANT=11111111-1111-1111-1111-111111111111",
		"KVEMU_VAULT=kv1",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conformance.py: %v\n%s", err, out)
	}
	t.Logf("conformance.py:\n%s", out)

	// Every api-version the clients send by default (and each one they
	// offer) went through: the defaults are 7.3 (secrets, certificates) and
	// 7.4-preview.1 (keys) in Debian's packages.
	var sent map[string][]string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "API_VERSIONS "); ok {
			if err := json.Unmarshal([]byte(rest), &sent); err != nil {
				t.Fatalf("API_VERSIONS line: %v", err)
			}
		}
	}
	for kind, want := range map[string][]string{
		"secrets":      {"2016-10-01", "7.0", "7.1", "7.2", "7.3"},
		"keys":         {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4-preview.1"},
		"certificates": {"2016-10-01", "7.0", "7.1", "7.2", "7.3"},
	} {
		for _, v := range want {
			if !slices.Contains(sent[kind], v) {
				t.Errorf("%s client never sent api-version %s (sent %v)", kind, v, sent[kind])
			}
		}
	}
}
