// Package csiplugin is the CSI node plugin of the Secrets Store CSI driver:
// the Identity and Node services (one file each), served over a unix socket
// to kubelet. There is no Controller service: volumes are ephemeral
// (inline) and live only on the node that mounts them.
package csiplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

// SecretProviderClasses reads SecretProviderClasses.
type SecretProviderClasses interface {
	Get(ctx context.Context, namespace, name string) (*secretsstorev1.SecretProviderClass, error)
}

// SPCsFromClient adapts the typed client.
func SPCsFromClient(c *spcclient.Client) SecretProviderClasses { return spcGetter{c} }

type spcGetter struct{ c *spcclient.Client }

func (g spcGetter) Get(ctx context.Context, ns, name string) (*secretsstorev1.SecretProviderClass, error) {
	return g.c.SecretProviderClasses(ns).Get(ctx, name, metav1.GetOptions{})
}

// Config is what the plugin needs; the main fills it from flags.
type Config struct {
	// DriverName is reported by GetPluginInfo (--drivername).
	DriverName string
	// Version is reported by GetPluginInfo.
	Version string
	// NodeID is reported by NodeGetInfo and given to hooks (--nodeid).
	NodeID string
	// SPCs reads SecretProviderClasses.
	SPCs SecretProviderClasses
	// Refresher calls providers and writes content.
	Refresher *content.Refresher
	// Hooks run after content is written (pod status, secret sync).
	Hooks driver.PublishHook
	// Metrics records node publish/unpublish metrics; nil records nothing.
	Metrics *metrics.Recorder
	// Log is the plugin's logger.
	Log logr.Logger
	// Recorder sends Warning events to the pod (dropped reserved keys,
	// provider warnings); use a recorder whose source is events.SourceDriver.
	// Nil sends no events.
	Recorder record.EventRecorder
	// KubeletSetsTokens says whether kubelet writes
	// csi.storage.k8s.io/serviceAccount.tokens into the volume context (the
	// CSIDriver has tokenRequests), in which case that key is kubelet's and
	// not the user's. Nil: tokens in the volume context are trusted (tests,
	// and the behaviour before this check). See TokenRequestsFromCSIDriver.
	KubeletSetsTokens func(ctx context.Context) (bool, error)
	// RepublishInterval is the least time between two content refreshes of
	// a mounted volume through kubelet's republish calls (CSIDriver
	// requiresRepublish, about every minute). The main sets it to
	// --rotation-poll-interval, so the documented poll interval holds, and
	// to "forever" when rotation is off, so nothing changes then. Zero
	// refreshes on every republish.
	RepublishInterval time.Duration
}

// Server implements the CSI Identity and Node services.
type Server struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer

	cfg   Config
	locks targetLocks

	// refreshed is when each mounted target's content was last fetched,
	// by a publish, a republish or rotation.
	refreshedMu sync.Mutex
	refreshed   map[string]time.Time
}

// markRefreshed records a successful fetch for target; a zero time forgets
// the target (unpublished).
func (s *Server) markRefreshed(target string, at time.Time) {
	s.refreshedMu.Lock()
	defer s.refreshedMu.Unlock()
	if at.IsZero() {
		delete(s.refreshed, target)
		return
	}
	s.refreshed[target] = at
}

// republishDue says whether a republish of an already mounted target should
// fetch content again.
func (s *Server) republishDue(target string, now time.Time) bool {
	s.refreshedMu.Lock()
	defer s.refreshedMu.Unlock()
	last, ok := s.refreshed[target]
	return !ok || now.Sub(last) >= s.cfg.RepublishInterval
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	var missing []string
	if cfg.DriverName == "" {
		missing = append(missing, "DriverName (--drivername)")
	}
	if cfg.NodeID == "" {
		missing = append(missing, "NodeID (--nodeid, usually $(KUBE_NODE_NAME))")
	}
	if cfg.SPCs == nil {
		missing = append(missing, "SPCs")
	}
	if cfg.Refresher == nil {
		missing = append(missing, "Refresher")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("csiplugin: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Hooks == nil {
		cfg.Hooks = driver.Hooks(nil)
	}
	return &Server{cfg: cfg, locks: targetLocks{m: map[string]*targetLock{}}, refreshed: map[string]time.Time{}}, nil
}

// ParseEndpoint turns unix:///path into a socket path. As upstream, the
// part after "unix://" is the path, so unix://tmp/csi.sock (upstream's
// default) is relative to the working directory.
func ParseEndpoint(endpoint string) (string, error) {
	rest, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok {
		return "", fmt.Errorf("--endpoint %q: only unix:// endpoints are supported, e.g. unix:///csi/csi.sock", endpoint)
	}
	if rest == "" {
		return "", fmt.Errorf("--endpoint %q has no socket path", endpoint)
	}
	return filepath.Clean(rest), nil
}

// Listen removes a stale socket and listens on the endpoint.
func Listen(endpoint string) (net.Listener, error) {
	sock, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", sock, err)
	}
	return net.Listen("unix", sock)
}

// GRPCServer returns a gRPC server with both services registered and the
// logging interceptor that strips secrets.
func (s *Server) GRPCServer() *grpc.Server {
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(LoggingInterceptor(s.cfg.Log)))
	csi.RegisterIdentityServer(g, s)
	csi.RegisterNodeServer(g, s)
	return g
}

// Serve serves on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := s.GRPCServer()
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	s.cfg.Log.Info("serving CSI", "address", lis.Addr().String(), "driver", s.cfg.DriverName, "node", s.cfg.NodeID)
	return g.Serve(lis)
}

// targetLocks serialises operations on one target path: kubelet may call
// publish (republish) and unpublish for the same target concurrently, and
// rotation refreshes the same targets.
type targetLocks struct {
	mu sync.Mutex
	m  map[string]*targetLock
}

type targetLock struct {
	mu   sync.Mutex
	refs int
}

func (l *targetLocks) lock(target string) func() {
	l.mu.Lock()
	tl, ok := l.m[target]
	if !ok {
		tl = &targetLock{}
		l.m[target] = tl
	}
	tl.refs++
	l.mu.Unlock()
	tl.mu.Lock()
	return func() {
		tl.mu.Unlock()
		l.mu.Lock()
		tl.refs--
		if tl.refs == 0 {
			delete(l.m, target)
		}
		l.mu.Unlock()
	}
}

// LockTarget serialises work on one target with NodePublishVolume and
// NodeUnpublishVolume; rotation takes it around its refresh.
func (s *Server) LockTarget(target string) (unlock func()) { return s.locks.lock(target) }

// Refresh runs the refresher for an existing target while holding the
// target's lock, so rotation never interleaves with kubelet's publish or
// unpublish of the same volume. It implements rotation's Refresher.
func (s *Server) Refresh(ctx context.Context, req content.Request) (content.Result, error) {
	unlock := s.locks.lock(req.TargetPath)
	defer unlock()
	res, err := s.cfg.Refresher.Refresh(ctx, req)
	if err == nil {
		s.markRefreshed(req.TargetPath, time.Now())
	}
	return res, err
}
