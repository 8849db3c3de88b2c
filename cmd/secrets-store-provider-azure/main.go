// Command secrets-store-provider-azure is the Azure Key Vault provider for
// the Secrets Store CSI driver. main only binds flags and runs package
// provider/server; see docs/provider.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/provider/server"
)

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "secrets-store-provider-azure:", err)
		os.Exit(1)
	}
}

type flags struct {
	endpoint          string
	constructPEMChain bool
	separateFiles     bool
	healthzPort       int
	healthzPath       string
	healthzTimeout    time.Duration
	prometheusPort    int
	cloudName         string
	logJSON           bool
	version           bool
	caBundle          string
	cacheTTL          time.Duration
	nmiEndpoint       string
	verbosity         int
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("secrets-store-provider-azure", flag.ContinueOnError)
	fs.StringVar(&f.endpoint, "endpoint", "unix:///tmp/azure.sock", "unix socket the driver dials")
	fs.BoolVar(&f.constructPEMChain, "construct-pem-chain", true, "order a certificate's chain leaf to root")
	fs.BoolVar(&f.separateFiles, "write-cert-and-key-in-separate-files", false, "also write <file>.crt and <file>.key for certificates")
	fs.IntVar(&f.healthzPort, "healthz-port", 8989, "port of the health endpoint")
	fs.StringVar(&f.healthzPath, "healthz-path", "/healthz", "path of the health endpoint")
	fs.DurationVar(&f.healthzTimeout, "healthz-timeout", 5*time.Second, "timeout of the gRPC health check behind the health endpoint")
	fs.IntVar(&f.prometheusPort, "prometheus-port", 8898, "port of the Prometheus metrics endpoint (/metrics)")
	fs.StringVar(&f.cloudName, "cloud-name", "AzurePublicCloud", "cloud used when a SecretProviderClass sets no cloudName")
	fs.BoolVar(&f.logJSON, "log-format-json", false, "log as JSON")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra CA certificates to trust (private clouds, emulators)")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", 10*time.Second, "how long a fetched object is reused for the same identity; keep it well under the driver's --rotation-poll-interval; 0 disables")
	fs.StringVar(&f.nmiEndpoint, "nmi-endpoint", "http://localhost:2579", "aad-pod-identity NMI endpoint for usePodIdentity")
	fs.IntVar(&f.verbosity, "v", 0, "log verbosity; 4 and above also log each object fetched (names, never values)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: all settings are flags", fs.Args())
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--healthz-port", f.healthzPort}, {"--prometheus-port", f.prometheusPort}} {
		if p.v < 0 || p.v > 65535 {
			return nil, fmt.Errorf("%s %d is not a port: use 1-65535 (0 disables)", p.name, p.v)
		}
	}
	if f.cacheTTL < 0 {
		return nil, fmt.Errorf("--cache-ttl %v is negative: use 0 to disable the cache", f.cacheTTL)
	}
	return f, nil
}

func realMain(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if f.version {
		fmt.Println(buildinfo.Version)
		return nil
	}
	lv := &slog.HandlerOptions{Level: slog.LevelInfo}
	if f.verbosity >= 4 {
		lv.Level = slog.LevelDebug
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, lv)
	if f.logJSON {
		h = slog.NewJSONHandler(os.Stderr, lv)
	}
	log := slog.New(h)

	cfg := server.Config{
		ConstructPEMChain:              f.constructPEMChain,
		WriteCertAndKeyInSeparateFiles: f.separateFiles,
		CloudName:                      f.cloudName,
		CacheTTL:                       f.cacheTTL,
		NMIEndpoint:                    f.nmiEndpoint,
		Logger:                         log,
	}
	if f.caBundle != "" {
		if cfg.CACertPEM, err = os.ReadFile(f.caBundle); err != nil {
			return fmt.Errorf("--ca-bundle: %v", err)
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	// Signals are caught before the socket exists, so a SIGTERM to a
	// provider that is serving always stops it gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sock, err := server.SocketPath(f.endpoint)
	if err != nil {
		return err
	}
	lis, err := server.Listen(sock)
	if err != nil {
		return err
	}
	g := srv.GRPCServer()

	errc := make(chan error, 3)
	var https []*http.Server
	serveHTTP := func(port int, path string, hnd http.Handler) {
		if port == 0 {
			return
		}
		mux := http.NewServeMux()
		mux.Handle(path, hnd)
		hs := &http.Server{Addr: net.JoinHostPort("", strconv.Itoa(port)), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		https = append(https, hs)
		go func() {
			if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("listen on :%d: %v", port, err)
			}
		}()
	}
	serveHTTP(f.prometheusPort, "/metrics", srv.Metrics().Handler())
	serveHTTP(f.healthzPort, f.healthzPath, server.HealthzHandler(sock, f.healthzTimeout))
	go func() { errc <- g.Serve(lis) }()
	log.Info("provider started", "version", buildinfo.Version, "endpoint", f.endpoint, "cache-ttl", f.cacheTTL.String(), "construct-pem-chain", f.constructPEMChain)

	select {
	case <-ctx.Done():
		log.Info("stopping on signal")
	case err = <-errc:
	}
	for _, hs := range https {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hs.Shutdown(sctx)
		cancel()
	}
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		g.Stop()
	}
	_ = os.Remove(sock)
	return err
}
