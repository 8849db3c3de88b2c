package registrar

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/kvcsi/kvcsi/internal/csiconn/csiconntest"
)

const driverName = "secrets-store.csi.k8s.io"

// setup returns a Config whose driver is a fake CSI identity server and whose
// directories are fresh temporary ones laid out like the kubelet's.
func setup(t *testing.T) Config {
	t.Helper()
	_, sock := csiconntest.Start(t, driverName)
	kubeletDir := t.TempDir()
	pluginDir := filepath.Join(kubeletDir, "plugins", "csi-secrets-store")
	regDir := filepath.Join(kubeletDir, "plugins_registry")
	os.MkdirAll(pluginDir, 0o755)
	os.MkdirAll(regDir, 0o755)
	return Config{
		CSIAddress:              sock,
		KubeletRegistrationPath: filepath.Join(pluginDir, "csi.sock"),
		PluginRegistrationPath:  regDir,
		Timeout:                 30 * time.Second,
	}
}

// kubelet is a fake kubelet plugin watcher: it dials the registration socket
// as the real one does.
func kubelet(t *testing.T, socket string) registerapi.RegistrationClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registerapi.NewRegistrationClient(conn)
}

// start runs the registrar and waits until its socket answers.
func start(t *testing.T, cfg Config) (*Registrar, registerapi.RegistrationClient, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	client := kubelet(t, r.Socket())
	waitCtx, waitCancel := context.WithTimeout(ctx, time.Minute)
	defer waitCancel()
	if _, err := client.GetInfo(waitCtx, &registerapi.InfoRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("registration socket never answered: %v", err)
	}
	return r, client, cancel, done
}

func TestRegistersWithKubelet(t *testing.T) {
	cfg := setup(t)
	r, client, cancel, done := start(t, cfg)
	if want := filepath.Join(cfg.PluginRegistrationPath, driverName+"-reg.sock"); r.Socket() != want {
		t.Errorf("socket %s, want %s", r.Socket(), want)
	}
	if fi, err := os.Stat(r.Socket()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("registration socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	info, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != driverName || info.Endpoint != cfg.KubeletRegistrationPath || !slices.Equal(info.SupportedVersions, []string{"1.0.0"}) {
		t.Errorf("GetInfo = %+v", info)
	}
	if _, err := os.Stat(cfg.ProbeFile()); err != nil {
		t.Errorf("registration probe file not created: %v", err)
	}
	if _, err := client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	// Still serving after a successful registration.
	if _, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{}); err != nil {
		t.Fatalf("GetInfo after registration: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if _, err := os.Lstat(r.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registration socket left behind after shutdown: %v", err)
	}
}

// TestProbeFileWithoutHostDir: in the DaemonSet the socket's host directory
// is not mounted in the registrar's container, so the probe file's directory
// must be created.
func TestProbeFileWithoutHostDir(t *testing.T) {
	cfg := setup(t)
	cfg.KubeletRegistrationPath = filepath.Join(t.TempDir(), "var/lib/kubelet/plugins/csi-secrets-store/csi.sock")
	_, client, _, _ := start(t, cfg)
	if _, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.ProbeFile()); err != nil {
		t.Errorf("registration probe file not created: %v", err)
	}
}

func TestFailedRegistrationEndsRun(t *testing.T) {
	cfg := setup(t)
	r, client, _, done := start(t, cfg)
	if _, err := client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: false, Error: "plugin name mismatch"}); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "plugin name mismatch") || !strings.Contains(err.Error(), driverName) {
		t.Fatalf("Run = %v, want the kubelet's error and the driver name", err)
	}
	if _, err := os.Lstat(r.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registration socket left behind: %v", err)
	}
}

func TestRemovesStaleSocket(t *testing.T) {
	cfg := setup(t)
	stale := cfg.SocketPath(driverName)
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves a socket file nobody listens on, like a killed registrar
	_, client, _, _ := start(t, cfg)
	if _, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesToDeleteNonSocket(t *testing.T) {
	cfg := setup(t)
	path := cfg.SocketPath(driverName)
	os.WriteFile(path, []byte("not mine"), 0o644)
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Run = %v, want an error saying the path is not a socket", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "not mine" {
		t.Errorf("the file at the socket path was changed")
	}
}

func TestWaitsForDriver(t *testing.T) {
	cfg := setup(t)
	cfg.CSIAddress = filepath.Join(t.TempDir(), "later.sock")
	got := make(chan error, 1)
	var r *Registrar
	go func() {
		var err error
		r, err = New(context.Background(), cfg)
		got <- err
	}()
	// The driver comes up after the registrar started asking.
	csiconntest.StartAt(t, cfg.CSIAddress, driverName)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if r.Driver() != driverName {
		t.Errorf("driver %q", r.Driver())
	}
}

func TestNewGivesUpWithContext(t *testing.T) {
	cfg := setup(t)
	cfg.CSIAddress = filepath.Join(t.TempDir(), "never.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "never.sock") && !strings.Contains(err.Error(), "CSI driver name") {
		t.Fatalf("New with a cancelled context = %v", err)
	}
}

func TestHealthz(t *testing.T) {
	cfg := setup(t)
	r, _, cancel, done := start(t, cfg)
	srv := httptest.NewServer(r.Health())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok" {
		t.Errorf("healthz while serving = %d %q", code, body)
	}
	cancel()
	<-done
	if code, body := get(t, srv.URL+"/healthz"); code != 404 || !strings.Contains(body, "does not exist") {
		t.Errorf("healthz after the socket went = %d %q, want 404", code, body)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func TestConfigErrors(t *testing.T) {
	good := Config{CSIAddress: "/csi/csi.sock", KubeletRegistrationPath: "/var/lib/kubelet/plugins/x/csi.sock", PluginRegistrationPath: "/registration", Timeout: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no csi address", func(c *Config) { c.CSIAddress = "" }, "--csi-address"},
		{"no kubelet path", func(c *Config) { c.KubeletRegistrationPath = "" }, "--kubelet-registration-path is required"},
		{"relative kubelet path", func(c *Config) { c.KubeletRegistrationPath = "csi.sock" }, "absolute"},
		{"no registration dir", func(c *Config) { c.PluginRegistrationPath = "" }, "--plugin-registration-path"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "--timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want mention of %q", err, tc.want)
			}
		})
	}
}
