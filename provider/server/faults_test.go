package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/metrics"
	"github.com/kvcsi/kvcsi/provider/server"
)

// TestFaultCodes: throttling after retries is ResourceExhausted, 5xx and
// dropped connections are Unavailable, and a Mount whose gRPC deadline
// passes while Key Vault is slow is DeadlineExceeded, in about the deadline.
func TestFaultCodes(t *testing.T) {
	e := newEnv(t, server.Config{MaxRetries: 1})
	attrs := e.attrs(objs("objectName: db-password; objectType: secret"))
	tests := []struct {
		name     string
		fault    kvemulator.Fault
		deadline time.Duration
		code     codes.Code
		reason   string
	}{
		{"throttled", kvemulator.Fault{Vault: "kv1", Object: "db-password", Status: 429, RetryAfter: 0}, 0, codes.ResourceExhausted, "throttled"},
		{"server error", kvemulator.Fault{Vault: "kv1", Object: "db-password", Status: 503}, 0, codes.Unavailable, "failed after retries"},
		{"dropped connection", kvemulator.Fault{Vault: "kv1", Object: "db-password", Drop: true}, 0, codes.Unavailable, "db-password"},
		{"deadline", faultLatency("kv1", "db-password", time.Minute), 300 * time.Millisecond, codes.DeadlineExceeded, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := e.emu.Admin().AddFault(tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			defer e.emu.Admin().RemoveFault(f.ID)
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			_, err = e.mount(ctx, attrs, spSecrets(readerID, readerSecret))
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code %v (%s), want %v", st.Code(), st.Message(), tc.code)
			}
			if !strings.Contains(st.Message(), tc.reason) {
				t.Fatalf("message %q lacks %q", st.Message(), tc.reason)
			}
		})
	}
}

// TestMetrics: after Mounts, /metrics has both histograms with the
// documented labels, short reasons and no secret anywhere.
func TestMetrics(t *testing.T) {
	rec := metrics.New()
	e := newEnv(t, server.Config{Metrics: rec})
	if _, err := e.mount(context.Background(), e.attrs(objs("objectName: db-password; objectType: secret")), spSecrets(readerID, readerSecret)); err != nil {
		t.Fatal(err)
	}
	e.mount(context.Background(), e.attrs(objs("objectName: missing; objectType: secret")), spSecrets(readerID, readerSecret))
	e.mount(context.Background(), e.attrs(objs("objectName: db-password; objectType: nope")), spSecrets(readerID, readerSecret))
	srv := httptest.NewServer(rec.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`keyvault_request_bucket{error="",object_name="db-password",object_type="secret",os_type="linux",provider="azure",le="0.1"}`,
		`keyvault_request_count{error="not_found",object_name="missing",object_type="secret",os_type="linux",provider="azure"} 1`,
		`grpc_request_count{grpc_code="OK",grpc_message="",grpc_method="/v1alpha1.CSIDriverProvider/Mount",os_type="linux",provider="azure"} 1`,
		`grpc_request_count{grpc_code="NotFound",grpc_message="not_found",grpc_method="/v1alpha1.CSIDriverProvider/Mount",os_type="linux",provider="azure"} 1`,
		`grpc_request_count{grpc_code="InvalidArgument",grpc_message="invalid_parameters",grpc_method="/v1alpha1.CSIDriverProvider/Mount",os_type="linux",provider="azure"} 1`,
		`le="30"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{"second-password", readerSecret} {
		if strings.Contains(text, secret) {
			t.Errorf("metrics leak %q", secret)
		}
	}
}

// TestHealthz: /healthz answers ok through the gRPC health check, and 503
// once the gRPC server is gone.
func TestHealthz(t *testing.T) {
	srv, err := server.New(server.Config{})
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
	h := httptest.NewServer(server.HealthzHandler(sock, 5*time.Second))
	defer h.Close()
	get := func() int {
		resp, err := http.Get(h.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(); c != http.StatusOK {
		t.Fatalf("healthz = %d while serving", c)
	}
	g.Stop()
	if c := get(); c != http.StatusServiceUnavailable {
		t.Fatalf("healthz = %d after stop", c)
	}
}

// TestListen: a stale socket is replaced, a live one or a regular file is
// refused, and the socket is owner-only.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sub", "azure.sock")
	l1, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if _, err := server.Listen(sock); err == nil || !strings.Contains(err.Error(), "served by another process") {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	// Leave the file behind as a killed process would.
	if ul, ok := l1.(interface{ SetUnlinkOnClose(bool) }); ok {
		ul.SetUnlinkOnClose(false)
	}
	l1.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("test setup: stale socket missing: %v", err)
	}
	l2, err := server.Listen(sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	file := filepath.Join(dir, "file.sock")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := server.Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{"unix:///provider/azure.sock", "/provider/azure.sock"},
		{"unix://tmp/azure.sock", "tmp/azure.sock"},
		{"/run/a.sock", "/run/a.sock"},
	} {
		if got, err := server.SocketPath(tc.in); err != nil || got != tc.want {
			t.Errorf("SocketPath(%q) = %q, %v", tc.in, got, err)
		}
	}
	if _, err := server.SocketPath("tcp://0.0.0.0:1"); err == nil {
		t.Error("tcp endpoint accepted")
	}
}

// TestVaultThatDoesNotResolve: in a real cloud a missing vault is a DNS name
// that does not resolve. The Mount reports that vault as not existing, at
// once: the lookup is not retried.
func TestVaultThatDoesNotResolve(t *testing.T) {
	emu, key := startEmulator(t, "testdata/seed.yaml")
	var lookups atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "missing-vault.") {
			lookups.Add(1)
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		}
		return emu.DialContext(ctx, network, addr)
	}
	e := newEnvWith(t, emu, key, server.Config{DialContext: dial, RetryDelay: time.Second})
	_, err := e.mount(context.Background(), e.attrs(objs("objectName: db-password; objectType: secret"), "keyvaultName", "missing-vault"), spSecrets(readerID, readerSecret))
	st := status.Convert(err)
	if st.Code() != codes.NotFound || !strings.Contains(st.Message(), `key vault "missing-vault" does not exist`) || !strings.Contains(st.Message(), "check keyvaultName and cloudName") {
		t.Fatalf("got %v: %s", st.Code(), st.Message())
	}
	if n := lookups.Load(); n != 1 {
		t.Fatalf("the vault's name was looked up %d times; a name that does not exist must not be retried", n)
	}
}
