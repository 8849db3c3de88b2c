// Package server implements the v1alpha1.CSIDriverProvider gRPC service for
// Azure Key Vault: it validates a Mount's parameters, authenticates as the
// requested identity, fetches the objects concurrently and returns the
// rendered files for the driver to write. Process-level configuration (the
// flags) lives in Config; per-request configuration in package params.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/metrics"
)

// Config is the process-level configuration of a provider.
type Config struct {
	// ConstructPEMChain orders PKCS#12 chains leaf → root (--construct-pem-chain).
	ConstructPEMChain bool
	// WriteCertAndKeyInSeparateFiles adds <file>.crt and <file>.key for
	// certificate-backed secrets (--write-cert-and-key-in-separate-files).
	WriteCertAndKeyInSeparateFiles bool
	// CloudName is the default cloud when a SecretProviderClass names none (--cloud-name).
	CloudName string
	// CACertPEM are extra trusted CA certificates (--ca-bundle), added to the system pool.
	CACertPEM []byte
	// CacheTTL is how long a fetched object is reused for the same identity
	// (--cache-ttl); 0 disables the cache.
	CacheTTL time.Duration
	// NMIEndpoint is the pod identity NMI URL (--nmi-endpoint).
	NMIEndpoint string
	// DialContext, when set, dials every outbound connection (Key Vault,
	// Entra ID, IMDS, NMI). It is how a process resolves names differently
	// from the system resolver; nil uses a plain net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxConcurrentFetches bounds the Key Vault calls of one Mount; default 8.
	MaxConcurrentFetches int
	// DisableSingleflight turns off collapsing of identical concurrent fetches.
	DisableSingleflight bool
	// MountTimeout bounds a Mount whose caller set no deadline; default 2m.
	MountTimeout time.Duration
	// Strict refuses, with InvalidArgument, the SecretProviderClass settings
	// that are otherwise handled as upstream does with a warning (--strict).
	Strict bool
	// UserAgent is appended to the User-Agent of every Key Vault and Entra
	// ID request (--custom-user-agent, after upstream's
	// "csi-secrets-store/<version> (<os>/<arch>)").
	UserAgent string
	// MaxRetries and RetryDelay tune the SDK retry policy; 0 keeps azcore's defaults.
	MaxRetries int
	RetryDelay time.Duration
	// Metrics records the provider histograms; nil creates a private recorder.
	Metrics *metrics.Recorder
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock of the cache and credential expiry; nil is time.Now.
	Now func() time.Time
}

// NewHTTPClient builds the one HTTP client every outbound request uses: the
// system trust store plus extraCAs, and dial as the dialer (nil = default).
func NewHTTPClient(extraCAs []byte, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(extraCAs) > 0 && !pool.AppendCertsFromPEM(extraCAs) {
		return nil, errors.New("the CA bundle holds no PEM certificate: give --ca-bundle a file of PEM CERTIFICATE blocks")
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: t}, nil
}

// UserAgent is what the provider adds to the SDK's User-Agent: upstream's
// product token, then custom (--custom-user-agent) when set.
func UserAgent(custom string) string {
	ua := fmt.Sprintf("csi-secrets-store/%s (%s/%s) kvcsi", buildinfo.Version, runtime.GOOS, runtime.GOARCH)
	if custom = strings.TrimSpace(custom); custom != "" {
		ua += " " + custom
	}
	return ua
}

// userAgent appends add to each request's User-Agent.
type userAgent struct {
	next http.RoundTripper
	add  string
}

func (u *userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if ua := r.Header.Get("User-Agent"); ua != "" {
		r.Header.Set("User-Agent", ua+" "+u.add)
	} else {
		r.Header.Set("User-Agent", u.add)
	}
	return u.next.RoundTrip(r)
}

// objectSource is what Mount needs from Key Vault; *keyvault.Fetcher in
// production.
type objectSource interface {
	Get(ctx context.Context, t keyvault.Target, typ, name, version string) (*keyvault.Item, error)
	EnabledVersions(ctx context.Context, t keyvault.Target, typ, name string) ([]string, error)
}

// Server is the provider service.
type Server struct {
	v1alpha1.UnimplementedCSIDriverProviderServer

	cfg     Config
	log     *slog.Logger
	creds   *auth.Credentials
	fetcher objectSource
	metrics *metrics.Recorder
}

// New checks cfg, fills defaults and builds the shared clients.
func New(cfg Config) (*Server, error) {
	if cfg.CacheTTL < 0 {
		return nil, fmt.Errorf("cache TTL %v is negative: use 0 to disable the cache", cfg.CacheTTL)
	}
	if cfg.MaxConcurrentFetches <= 0 {
		cfg.MaxConcurrentFetches = 8
	}
	if cfg.MountTimeout <= 0 {
		cfg.MountTimeout = 2 * time.Minute
	}
	if cfg.CloudName == "" {
		cfg.CloudName = "AzurePublicCloud"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hc, err := NewHTTPClient(cfg.CACertPEM, cfg.DialContext)
	if err != nil {
		return nil, err
	}
	hc.Transport = &userAgent{next: hc.Transport, add: UserAgent(cfg.UserAgent)}
	return &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		creds:   auth.New(auth.Options{Transport: hc, NMIEndpoint: cfg.NMIEndpoint, Now: cfg.Now}),
		fetcher: keyvault.New(keyvault.Options{
			Transport:           hc,
			CacheTTL:            cfg.CacheTTL,
			DisableSingleflight: cfg.DisableSingleflight,
			Metrics:             cfg.Metrics,
			MaxRetries:          cfg.MaxRetries,
			RetryDelay:          cfg.RetryDelay,
			Now:                 cfg.Now,
		}),
	}, nil
}

// Metrics returns the recorder, to serve it.
func (s *Server) Metrics() *metrics.Recorder { return s.metrics }
