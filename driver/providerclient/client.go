// Package providerclient dials secrets-store providers: gRPC over the unix
// socket <dir>/<provider>.sock, with authority "localhost" (the socket is
// protected by filesystem permissions, so the channel is insecure), retries
// only on UNAVAILABLE, and one cached connection per socket.
package providerclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/driver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// ProtocolVersion is what the driver sends in VersionRequest.
const ProtocolVersion = "v1alpha1"

// DefaultMaxRecvMsgSize is gRPC's default (4 MiB), upstream's default too.
const DefaultMaxRecvMsgSize = 4 * 1024 * 1024

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{0,30}$`)

// ValidateName checks a provider name as upstream does; the name becomes a
// file name, so anything else could reach outside the provider directories.
func ValidateName(name string) error {
	if name == "" {
		return status.Error(codes.InvalidArgument, "provider name is empty: set spec.provider in the SecretProviderClass (e.g. azure)")
	}
	if !nameRE.MatchString(name) {
		return status.Errorf(codes.InvalidArgument, "provider name %q is invalid: spec.provider must match %s", name, nameRE)
	}
	return nil
}

// Config configures a Pool.
type Config struct {
	// Dirs are searched in order for <provider>.sock; upstream searches the
	// additional provider volume paths first, then --provider-volume.
	Dirs []string
	// MaxRecvMsgSize bounds a MountResponse (--max-call-recv-msg-size).
	MaxRecvMsgSize int
	// Log receives connection and health-check messages.
	Log logr.Logger
}

// Pool caches one client connection per provider socket.
type Pool struct {
	cfg   Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by socket path
}

// New checks cfg and returns a Pool.
func New(cfg Config) (*Pool, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("providerclient: no provider directory configured (set --provider-volume)")
	}
	if cfg.MaxRecvMsgSize <= 0 {
		cfg.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	return &Pool{cfg: cfg, conns: map[string]*grpc.ClientConn{}}, nil
}

// SocketPath finds <dir>/<provider>.sock in the configured directories. A
// missing socket is FailedPrecondition with every path tried, so a user
// sees at once whether the provider DaemonSet is missing or mounts another
// directory.
func (p *Pool) SocketPath(provider string) (string, error) {
	if err := ValidateName(provider); err != nil {
		return "", err
	}
	tried := make([]string, 0, len(p.cfg.Dirs))
	for _, dir := range p.cfg.Dirs {
		sock := filepath.Join(dir, provider+".sock")
		if _, err := os.Stat(sock); err == nil {
			return sock, nil
		}
		tried = append(tried, sock)
	}
	return "", status.Errorf(codes.FailedPrecondition,
		"%v: no socket for provider %q at %v; is the %s provider installed on this node and does it listen in one of these directories?",
		driver.ErrNoProvider, provider, tried, provider)
}

// serviceConfig retries only UNAVAILABLE (provider restarting), with backoff.
const serviceConfig = `{"methodConfig":[{"name":[{"service":"v1alpha1.CSIDriverProvider"}],
 "retryPolicy":{"maxAttempts":3,"initialBackoff":"0.2s","maxBackoff":"2s","backoffMultiplier":2,
 "retryableStatusCodes":["UNAVAILABLE"]}}]}`

// Client returns a client for provider, dialling its socket on first use.
func (p *Pool) Client(provider string) (providerv1alpha1.CSIDriverProviderClient, error) {
	sock, err := p.SocketPath(provider)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cc, ok := p.conns[sock]; ok {
		return providerv1alpha1.NewCSIDriverProviderClient(cc), nil
	}
	cc, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("localhost"),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(p.cfg.MaxRecvMsgSize)),
		grpc.WithDefaultServiceConfig(serviceConfig),
	)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "dial provider %q at %s: %v", provider, sock, err)
	}
	p.conns[sock] = cc
	p.cfg.Log.V(2).Info("connected to provider", "provider", provider, "socket", sock)
	return providerv1alpha1.NewCSIDriverProviderClient(cc), nil
}

// Version calls the provider's Version RPC.
func (p *Pool) Version(ctx context.Context, provider string) (*providerv1alpha1.VersionResponse, error) {
	c, err := p.Client(provider)
	if err != nil {
		return nil, err
	}
	return c.Version(ctx, &providerv1alpha1.VersionRequest{Version: ProtocolVersion})
}

// Providers lists the provider names that have a socket in the configured
// directories.
func (p *Pool) Providers() []string {
	seen := map[string]bool{}
	for _, dir := range p.cfg.Dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
		for _, m := range matches {
			name := filepath.Base(m)
			name = name[:len(name)-len(".sock")]
			if ValidateName(name) == nil {
				seen[name] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckHealth calls Version on every provider found and returns the
// failures by provider name.
func (p *Pool) CheckHealth(ctx context.Context, timeout time.Duration) map[string]error {
	failed := map[string]error{}
	for _, name := range p.Providers() {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := p.Version(cctx, name)
		cancel()
		if err != nil {
			failed[name] = err
		}
	}
	return failed
}

// RunHealthCheck logs the health of every provider each interval until ctx
// ends (--provider-health-check).
func (p *Pool) RunHealthCheck(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for name, err := range p.CheckHealth(ctx, 10*time.Second) {
			p.cfg.Log.Error(err, "provider health check failed", "provider", name)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close closes every cached connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for sock, cc := range p.conns {
		errs = append(errs, cc.Close())
		delete(p.conns, sock)
	}
	return errors.Join(errs...)
}

// String describes the pool for logs.
func (p *Pool) String() string { return fmt.Sprintf("providers in %v", p.cfg.Dirs) }
