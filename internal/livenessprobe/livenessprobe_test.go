package livenessprobe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kvcsi/kvcsi/internal/csiconn/csiconntest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name     string
		probe    func(context.Context) (*csi.ProbeResponse, error)
		wantCode int
		wantBody string
		timeout  time.Duration // default 30s: only the timeout case waits for it
	}{
		{"ready", nil, 200, "ok", 0},
		{"ready unset means ready", func(context.Context) (*csi.ProbeResponse, error) { return &csi.ProbeResponse{}, nil }, 200, "ok", 0},
		{"not ready", func(context.Context) (*csi.ProbeResponse, error) {
			return &csi.ProbeResponse{Ready: wrapperspb.Bool(false)}, nil
		}, 500, "driver responded but is not ready", 0},
		{"probe error", func(context.Context) (*csi.ProbeResponse, error) {
			return nil, status.Error(codes.FailedPrecondition, "provider socket missing")
		}, 500, "provider socket missing", 0},
		{"timeout", func(ctx context.Context) (*csi.ProbeResponse, error) {
			<-ctx.Done() // hangs until the probe's deadline cancels the call
			return nil, ctx.Err()
		}, 500, "DeadlineExceeded", 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, sock := csiconntest.Start(t, "secrets-store.csi.k8s.io")
			id.SetProbe(tc.probe)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			h, err := New(Config{CSIAddress: sock, ProbeTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h.Mux())
			defer srv.Close()
			code, body := get(t, srv.URL+"/healthz")
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET /healthz = %d %q, want %d containing %q", code, body, tc.wantCode, tc.wantBody)
			}
			if id.ProbeCalls() != 1 {
				t.Errorf("driver got %d Probe calls, want 1", id.ProbeCalls())
			}
		})
	}
}

func TestDriverGone(t *testing.T) {
	h, err := New(Config{CSIAddress: "unix://" + t.TempDir() + "/absent.sock", ProbeTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Mux())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != 500 || !strings.Contains(body, "absent.sock") {
		t.Errorf("GET /healthz with no driver = %d %q, want 500 naming the socket", code, body)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{ProbeTimeout: time.Second}, "--csi-address"},
		{"tcp address", Config{CSIAddress: "tcp://1.2.3.4:5", ProbeTimeout: time.Second}, "only unix sockets"},
		{"zero timeout", Config{CSIAddress: "/csi/csi.sock"}, "--probe-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v, want error mentioning %q", tc.cfg, err, tc.want)
			}
		})
	}
}
