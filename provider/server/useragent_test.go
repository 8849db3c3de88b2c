package server_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/provider/server"
)

// TestCustomUserAgent: --custom-user-agent is appended, after upstream's
// csi-secrets-store product token, to the SDK's User-Agent of the
// provider's outbound requests (one HTTP client carries Entra ID and Key
// Vault requests alike).
func TestCustomUserAgent(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	srv, err := server.New(server.Config{CACertPEM: ca, DialContext: dial, UserAgent: "my-agent/1.0", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(map[string]string{"name": "AzureStackCloud", "activeDirectoryEndpoint": "https://example.com/",
		"keyVaultEndpoint": "https://example.com/", "keyVaultDNSSuffix": "example.com"})
	envFile := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(envFile, env, 0o644); err != nil {
		t.Fatal(err)
	}
	attrs := mustJSON(map[string]string{"csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/pod.namespace": "ns", "keyvaultName": "kv1",
		"tenantID": tenant, "cloudName": "AzureStackCloud", "cloudEnvFileName": envFile, "objects": objs("objectName: s; objectType: secret")})
	_, err = srv.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs, Secrets: mustJSON(spSecrets(readerID, readerSecret)), Permission: "420"})
	if err == nil {
		t.Fatal("mount against a server that answers 404 succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) == 0 {
		t.Fatalf("no request reached the server (%v)", err)
	}
	for _, ua := range agents {
		if !strings.Contains(ua, "csi-secrets-store/") || !strings.HasSuffix(ua, " my-agent/1.0") {
			t.Errorf("User-Agent %q lacks csi-secrets-store/<version> ... my-agent/1.0", ua)
		}
	}
}
