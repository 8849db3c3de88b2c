package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/server"
)

const (
	tenant         = "11111111-1111-1111-1111-111111111111"
	readerID       = "aaaaaaaa-0000-0000-0000-000000000001"
	readerSecret   = "reader-client-secret"
	outsiderID     = "aaaaaaaa-0000-0000-0000-000000000003"
	outsiderSecret = "outsider-client-secret"
	workloadID     = "aaaaaaaa-0000-0000-0000-000000000004"
	userMIID       = "aaaaaaaa-0000-0000-0000-000000000006"
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
)

// env is an emulator plus a provider served over a real unix socket,
// pointed at the emulator as a private-cloud user would point it at Azure:
// a cloud environment file, a trusted CA and name resolution.
type env struct {
	emu       *kvemulator.Server
	cloudFile string
	srv       *server.Server
	client    v1alpha1.CSIDriverProviderClient
	socket    string
	saKey     *rsa.PrivateKey
}

func startEmulator(t testing.TB, seed string) (*kvemulator.Server, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := kvemulator.Start(context.Background(), kvemulator.Config{
		SeedFile:             seed,
		ServiceAccountIssuer: saIssuer,
		ServiceAccountKeys:   []crypto.PublicKey{key.Public()},
		NMIAddr:              "127.0.0.1:0",
		DisableThrottling:    true,
	})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu, key
}

// cloudEnvFile writes an AzureStackCloud environment file for the emulator.
func cloudEnvFile(t testing.TB, emu *kvemulator.Server) string {
	t.Helper()
	u := emu.VaultURL("x") // https://x.<suffix>/
	suffix := strings.TrimSuffix(strings.TrimPrefix(u, "https://x."), "/")
	host := suffix
	if h, _, err := net.SplitHostPort(suffix); err == nil {
		host = h
	}
	b, _ := json.Marshal(map[string]string{
		"name":                    "AzureStackCloud",
		"activeDirectoryEndpoint": emu.AuthorityHost(),
		"keyVaultEndpoint":        "https://" + host + "/",
		"keyVaultDNSSuffix":       suffix,
	})
	p := filepath.Join(t.TempDir(), "azurestackcloud.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newEnv(t testing.TB, cfg server.Config) *env {
	t.Helper()
	emu, key := startEmulator(t, "testdata/seed.yaml")
	return newEnvWith(t, emu, key, cfg)
}

func newEnvWith(t testing.TB, emu *kvemulator.Server, key *rsa.PrivateKey, cfg server.Config) *env {
	t.Helper()
	cfg.CACertPEM = emu.CACertPEM()
	if cfg.DialContext == nil {
		cfg.DialContext = emu.DialContext
	}
	if cfg.NMIEndpoint == "" {
		cfg.NMIEndpoint = emu.NMIURL()
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Millisecond
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "azure.sock")
	lis, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	g := srv.GRPCServer()
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{emu: emu, cloudFile: cloudEnvFile(t, emu), srv: srv, client: v1alpha1.NewCSIDriverProviderClient(conn), socket: sock, saKey: key}
}

// attrs are a SecretProviderClass's parameters plus the driver's pod
// attributes, for vault kv1 in the emulator's cloud; extra overrides.
func (e *env) attrs(objects string, extra ...string) map[string]string {
	a := map[string]string{
		"csi.storage.k8s.io/pod.name":      "pod-1",
		"csi.storage.k8s.io/pod.namespace": "default",
		"keyvaultName":                     "kv1",
		"tenantID":                         tenant,
		"cloudName":                        "AzureStackCloud",
		"cloudEnvFileName":                 e.cloudFile,
		"objects":                          objects,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(a, extra[i])
		} else {
			a[extra[i]] = extra[i+1]
		}
	}
	return a
}

// objs builds the objects parameter from object documents written as
// "objectName: x; objectType: secret".
func objs(docs ...string) string {
	var b strings.Builder
	b.WriteString("array:\n")
	for _, d := range docs {
		b.WriteString("  - |\n")
		for _, f := range strings.Split(d, ";") {
			b.WriteString("    " + strings.TrimSpace(f) + "\n")
		}
	}
	return b.String()
}

func spSecrets(id, secret string) map[string]string {
	return map[string]string{"clientid": id, "clientsecret": secret}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (e *env) mount(ctx context.Context, attrs, secrets map[string]string) (*v1alpha1.MountResponse, error) {
	return e.client.Mount(ctx, &v1alpha1.MountRequest{
		Attributes: mustJSON(attrs),
		Secrets:    mustJSON(secrets),
		TargetPath: "/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/v/mount",
		Permission: "420",
	})
}

// remount is a rotation's Mount: the driver sends the versions mounted now,
// which lets the provider answer from its cache.
func (e *env) remount(ctx context.Context, attrs, secrets map[string]string, current []*v1alpha1.ObjectVersion) (*v1alpha1.MountResponse, error) {
	return e.client.Mount(ctx, &v1alpha1.MountRequest{
		Attributes:           mustJSON(attrs),
		Secrets:              mustJSON(secrets),
		TargetPath:           "/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/v/mount",
		Permission:           "420",
		CurrentObjectVersion: current,
	})
}

// saToken signs a service-account token as kubelet would hand it out: each
// token is unique (a random jti, as kubelet's tokens carry).
func (e *env) saToken(t testing.TB, ns, sa string) string {
	t.Helper()
	now := time.Now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": saIssuer,
		"sub": fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa),
		"aud": []string{"api://AzureADTokenExchange"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": fmt.Sprintf("%x", jti),
	}).SignedString(e.saKey)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func files(r *v1alpha1.MountResponse) map[string]string {
	m := map[string]string{}
	for _, f := range r.GetFiles() {
		m[f.GetPath()] = string(f.GetContents())
	}
	return m
}

// getCount is how many Get requests (any status) the emulator served for an object.
func getCount(t testing.TB, e *env, object string) int64 {
	t.Helper()
	cs, err := e.emu.Admin().Counters()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range cs {
		if c.Object == object && strings.HasPrefix(c.Op, "Get") {
			n += c.Count
		}
	}
	return n
}

func faultLatency(vault, object string, d time.Duration) kvemulator.Fault {
	return kvemulator.Fault{Vault: vault, Object: object, Latency: kvemulator.Duration(d)}
}

func normalizeJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
