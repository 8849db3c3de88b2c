package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
)

type reasonKey struct{}

// setReason passes a Mount's short error reason to the metrics interceptor.
func setReason(ctx context.Context, r string) {
	if p, ok := ctx.Value(reasonKey{}).(*string); ok {
		*p = r
	}
}

// GRPCServer builds the gRPC server: the provider service, the standard
// health service (SERVING), and an interceptor that records grpc_request
// with a short reason, never the raw message.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ChainUnaryInterceptor(s.observe))
	g := grpc.NewServer(opts...)
	v1alpha1.RegisterCSIDriverProviderServer(g, s)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("v1alpha1.CSIDriverProvider", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	return g
}

func (s *Server) observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	reason := ""
	resp, err := handler(context.WithValue(ctx, reasonKey{}, &reason), req)
	if err != nil && reason == "" {
		reason = "error"
	}
	s.metrics.GRPC(time.Since(start), info.FullMethod, status.Code(err).String(), reason)
	return resp, err
}

// SocketPath parses a unix endpoint: unix:///path, unix://path or a bare path.
func SocketPath(endpoint string) (string, error) {
	ep := strings.TrimSpace(endpoint)
	switch {
	case strings.HasPrefix(ep, "unix://"):
		u, err := url.Parse(ep)
		if err != nil {
			return "", fmt.Errorf("--endpoint %q is not a URL: %v", endpoint, err)
		}
		p := u.Host + u.Path // unix://tmp/x.sock means tmp/x.sock, as upstream
		if p == "" {
			return "", fmt.Errorf("--endpoint %q has no socket path: use unix:///provider/azure.sock", endpoint)
		}
		return p, nil
	case strings.Contains(ep, "://"):
		return "", fmt.Errorf("--endpoint %q: only unix sockets are supported, e.g. unix:///provider/azure.sock", endpoint)
	case ep == "":
		return "", errors.New("--endpoint is empty: use unix:///provider/azure.sock")
	default:
		return ep, nil
	}
}

// Listen listens on a unix socket: it creates the directory, removes a
// stale socket left by a killed process (but refuses to remove anything else
// or a socket someone still serves), and makes the socket owner-only.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the socket directory: %v", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it or choose another --endpoint", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is served by another process: stop it or choose another --endpoint", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("cannot remove the stale socket %s: %v", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("cannot restrict the socket's permissions: %v", err)
	}
	return l, nil
}

// HealthzHandler answers /healthz by round-tripping the gRPC health check
// over the socket, so it fails when the gRPC server does.
func HealthzHandler(socket string, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("localhost"))
		if err != nil {
			http.Error(w, "cannot dial the provider socket: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			http.Error(w, "gRPC health check failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "gRPC health: "+resp.GetStatus().String(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}
