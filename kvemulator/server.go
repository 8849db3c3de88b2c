package kvemulator

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/admin"
	"github.com/kvcsi/kvcsi/kvemulator/internal/dataplane"
	"github.com/kvcsi/kvcsi/kvemulator/internal/entra"
	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Server is a running emulator: an HTTPS listener for the vaults and the login
// host, a plain-HTTP listener for managed identity, optional IMDS and NMI
// listeners, and the loopback admin API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ca       *certAuthority
	tokens   *entra.Issuer
	store    *store.Store
	initMu   sync.Mutex
	initial  *store.State // the seeded state, for Reset
	counters faults.Counters
	faults   faults.Faults
	limits   *faults.Limiter
	data     *dataplane.Plane
	id       *entra.Service
	login    http.Handler
	msi      http.Handler

	httpsLn, adminLn, msiLn, imdsLn, nmiLn net.Listener
	servers                                []*http.Server
	wg                                     sync.WaitGroup
	closeOnce                              sync.Once
	closeErr                               error
	caFileOnce                             sync.Once
	tempCA                                 string // removed on Close
	stop                                   chan struct{}
}

// Start brings the emulator up and returns once every listener accepts
// connections. Cancelling ctx does not stop it; call Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	s.limits = faults.NewLimiter(s.startLimits(), time.Now)
	// The token signing key is state: it is kept only with StateDir (the TLS
	// directory may be a read-only Secret mount).
	keyDir := cfg.StateDir
	if s.ca, err = loadOrCreateCA(cfg.TLSDir); err != nil {
		return nil, err
	}
	if s.tokens, err = entra.NewIssuer(keyDir); err != nil {
		return nil, err
	}
	saKeys := append([]crypto.PublicKey(nil), cfg.ServiceAccountKeys...)
	for _, f := range cfg.ServiceAccountKeyFiles {
		keys, err := entra.ReadPublicKeys(f)
		if err != nil {
			return nil, fmt.Errorf("Config.ServiceAccountKeyFiles: %w", err)
		}
		saKeys = append(saKeys, keys...)
	}

	seed := cfg.Seed
	if cfg.SeedFile != "" {
		if seed, err = LoadSeedFile(cfg.SeedFile); err != nil {
			return nil, err
		}
	}
	initial := store.NewState()
	if seed != nil {
		if initial, err = dataplane.Build(seed, time.Now()); err != nil {
			return nil, err
		}
	}
	s.initial = initial
	st, err := store.Load(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = store.Clone(initial)
	}
	s.store = store.New(st, cfg.StateDir, s.log)
	if err := s.store.Save(); err != nil {
		return nil, fmt.Errorf("Config.StateDir %s is not writable: %w", cfg.StateDir, err)
	}

	s.data = &dataplane.Plane{Store: s.store, Tokens: s.tokens, Counters: &s.counters, Faults: &s.faults, Limits: s.limits, Log: s.log,
		CertificateCreateDelay: cfg.certificateCreateDelay()}
	s.id = &entra.Service{Store: s.store, Tokens: s.tokens, Counters: &s.counters, SAKeys: saKeys, SAIssuer: cfg.ServiceAccountIssuer}
	s.login = s.id.LoginHandler()
	s.msi = s.id.MSIHandler()

	names, ips := cfg.serverNames()
	cert, err := s.ca.loadServerCert(cfg.TLSDir, names, ips)
	if err != nil {
		return nil, err
	}
	if err := s.listenAll(); err != nil {
		s.Close()
		return nil, err
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	s.serve(tls.NewListener(s.httpsLn, tlsCfg), s)
	s.serve(s.adminLn, s.adminHandler())
	s.serve(s.msiLn, s.msi)
	if s.imdsLn != nil {
		s.serve(s.imdsLn, s.msi)
	}
	if s.nmiLn != nil {
		s.serve(s.nmiLn, s.msi)
	}
	s.wg.Add(1)
	go s.sweepLoop()
	s.log.Info("kvemulator started", "https", s.httpsLn.Addr().String(), "admin", s.adminLn.Addr().String(), "msi", s.msiLn.Addr().String())
	return s, nil
}

func (s *Server) listenAll() error {
	var err error
	if s.httpsLn, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		return fmt.Errorf("Config.Addr: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
		return fmt.Errorf("Config.AdminAddr: %w", err)
	}
	if s.msiLn, err = net.Listen("tcp", s.cfg.MSIAddr); err != nil {
		return fmt.Errorf("Config.MSIAddr: %w", err)
	}
	if s.cfg.IMDSAddr != "" {
		if s.imdsLn, err = net.Listen("tcp", s.cfg.IMDSAddr); err != nil {
			return fmt.Errorf("Config.IMDSAddr: %w (169.254.169.254 must be assigned to a local interface first)", err)
		}
	}
	if s.cfg.NMIAddr != "" {
		if s.nmiLn, err = net.Listen("tcp", s.cfg.NMIAddr); err != nil {
			return fmt.Errorf("Config.NMIAddr: %w", err)
		}
	}
	return nil
}

func (s *Server) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, ReadTimeout: s.cfg.ReadTimeout,
		IdleTimeout: s.cfg.IdleTimeout, MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// sweepLoop purges soft-deleted objects at the end of their retention.
func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if n := s.store.SweepDeleted(now); n > 0 {
				s.log.Info("purged soft-deleted objects at the end of their retention", "count", n)
			}
		}
	}
}

// Close stops every listener, waits for the handlers and writes the state.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
		}
		for _, ln := range []net.Listener{s.httpsLn, s.adminLn, s.msiLn, s.imdsLn, s.nmiLn} {
			if ln != nil {
				ln.Close()
			}
		}
		s.wg.Wait()
		if s.tempCA != "" {
			os.Remove(s.tempCA)
		}
		if s.store != nil {
			s.closeErr = s.store.Save()
		}
	})
	return s.closeErr
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// publicPort is the port clients put in URLs; 443 is left out.
func (s *Server) publicPort() string {
	if p := portOf(s.httpsLn); p != "443" {
		return p
	}
	return ""
}

// VaultURL is https://<vault>.<suffix>:<port>/.
func (s *Server) VaultURL(vault string) string {
	return "https://" + withPort(vault+"."+s.cfg.DNSSuffix, s.publicPort()) + "/"
}

// AzureVaultURL is https://<vault>.vault.azure.net:<port>/ (AzureNames).
func (s *Server) AzureVaultURL(vault string) string {
	return "https://" + withPort(vault+"."+azureVaultSuffix, s.publicPort()) + "/"
}

// AuthorityHost is https://<login-host>:<port>/, for azidentity's
// ClientOptions.Cloud or AZURE_AUTHORITY_HOST.
func (s *Server) AuthorityHost() string {
	return "https://" + withPort(s.cfg.LoginHost, s.publicPort()) + "/"
}

// Addr is the HTTPS listener's address.
func (s *Server) Addr() string { return s.httpsLn.Addr().String() }

// AdminURL is the admin API's base URL.
func (s *Server) AdminURL() string { return "http://" + s.adminLn.Addr().String() }

// CACertPEM is the CA certificate clients must trust.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.ca.certPEM...) }

// CAFile is where ca.crt was written; with no TLSDir a temporary file is
// written on first call.
func (s *Server) CAFile() string {
	s.caFileOnce.Do(func() {
		if s.ca.file != "" {
			return
		}
		f, err := os.CreateTemp("", "kvemulator-ca-*.crt")
		if err != nil {
			s.log.Error("writing the CA file failed", "err", err)
			return
		}
		f.Write(s.ca.certPEM)
		f.Close()
		s.ca.file = f.Name()
		s.tempCA = f.Name()
	})
	return s.ca.file
}

// CertPool is a pool holding only the emulator's CA.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// DialContext routes every emulator name (vault hosts, login hosts, Azure
// names, localhost, 169.254.169.254:80) to the right listener; anything else
// is dialled normally. Tests use it instead of DNS.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	host, port := splitHostPort(addr)
	switch {
	case host == imdsHost && (port == "80" || port == ""):
		return d.DialContext(ctx, network, s.msiLn.Addr().String())
	case s.isEmulatorName(host):
		return d.DialContext(ctx, network, s.httpsLn.Addr().String())
	}
	return d.DialContext(ctx, network, addr)
}

func (s *Server) isEmulatorName(host string) bool {
	if host == s.cfg.LoginHost || host == azureLoginHost || host == s.cfg.DNSSuffix || host == "localhost" || s.isManagementHost(host) {
		return true
	}
	return strings.HasSuffix(host, "."+s.cfg.DNSSuffix) || strings.HasSuffix(host, "."+azureVaultSuffix)
}

// Transport trusts the CA and dials with DialContext: give it to SDK clients
// as ClientOptions.Transport (an *http.Client wrapping it).
func (s *Server) Transport() *http.Transport {
	return &http.Transport{
		DialContext:         s.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
}

// HTTPClient wraps Transport; it satisfies azcore's policy.Transporter.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.Transport()} }

// IMDSURL is the IMDS token endpoint: on the IMDS listener when
// Config.IMDSAddr is set, else on the loopback managed-identity listener.
func (s *Server) IMDSURL() string {
	if s.imdsLn != nil {
		return "http://" + s.imdsLn.Addr().String() + entra.IMDSTokenPath
	}
	return "http://" + s.msiLn.Addr().String() + entra.IMDSTokenPath
}

// IdentityEndpoint is the App Service style endpoint and the header value to
// put in IDENTITY_ENDPOINT / IDENTITY_HEADER.
func (s *Server) IdentityEndpoint() (url, header string) {
	return "http://" + s.msiLn.Addr().String() + entra.AppServiceTokenPath, s.id.IdentityHeader()
}

// NMIURL is the pod-identity NMI base URL on the loopback listener (or the NMI listener).
func (s *Server) NMIURL() string {
	if s.nmiLn != nil {
		return "http://" + s.nmiLn.Addr().String()
	}
	return "http://" + s.msiLn.Addr().String()
}

// Admin returns a client of the admin API.
func (s *Server) Admin() *AdminClient { return NewAdminClient(s.AdminURL()) }

// defaultVault answers localhost requests.
func (s *Server) defaultVault() string {
	if s.cfg.DefaultVault != "" {
		return s.cfg.DefaultVault
	}
	var name string
	_ = s.store.View(func(st *store.State) error {
		if names := store.VaultNames(st); len(names) > 0 {
			name = names[0]
		}
		return nil
	})
	return name
}

// startLimits are the limits at start and after a reset.
func (s *Server) startLimits() faults.Limits {
	lim := faults.DefaultLimits()
	if s.cfg.DisableThrottling {
		lim.Enabled = false
	}
	return lim
}

// MintToken signs an access token for a seeded identity (by name) with any
// audience and lifetime — negative for an already expired one. Tests use it
// for the cases real credentials never produce.
func (s *Server) MintToken(identity, audience string, ttl time.Duration) (string, error) {
	return s.id.MintToken(identity, audience, ttl)
}

// ApplySeed replaces the whole state with the seed's and makes it the state
// Reset returns to.
func (s *Server) ApplySeed(sd *Seed) error {
	st, err := dataplane.Build(sd, time.Now())
	if err != nil {
		return err
	}
	s.initMu.Lock()
	s.initial = st
	s.initMu.Unlock()
	s.store.Replace(store.Clone(st))
	return nil
}

// reset returns to the seeded state and clears faults, counters and limits.
func (s *Server) reset() {
	s.initMu.Lock()
	st := store.Clone(s.initial)
	s.initMu.Unlock()
	s.store.Replace(st)
	s.faults.Clear()
	s.counters.Reset()
	s.limits.Set(s.startLimits())
	s.id.SetTokenTTL(0)
}

func (s *Server) adminHandler() http.Handler {
	return admin.Handler(admin.Deps{
		Store: s.store, Counters: &s.counters, Faults: &s.faults, Limits: s.limits,
		Info: s.info, VaultURL: s.VaultURL, ApplySeed: s.ApplySeed, Reset: s.reset, SetTokenTTL: s.id.SetTokenTTL,
	})
}

func (s *Server) info() Info {
	in := Info{VaultURLs: map[string]string{}, AuthorityHost: s.AuthorityHost(), CAFile: s.CAFile(), IMDSURL: s.IMDSURL(), NMIURL: s.NMIURL(), HTTPSAddr: s.Addr()}
	in.IdentityEndpoint, in.IdentityHeader = s.IdentityEndpoint()
	_ = s.store.View(func(st *store.State) error {
		for n := range st.Vaults {
			in.VaultURLs[n] = s.VaultURL(n)
		}
		return nil
	})
	return in
}
