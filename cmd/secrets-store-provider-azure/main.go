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
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	metricsBackend    string
	cloudName         string
	logJSON           bool
	version           bool
	enablePprof       bool
	pprofPort         int
	customUserAgent   string
	tokenProxyURL     string
	sniName           string
	verbosity         int
	// klog's flags, which upstream's binary registers; accepted, and
	// ignored (with a startup warning when set): this provider logs to
	// stderr through log/slog.
	klog map[string]*string
	// kvcsi's own
	caBundle    string
	cacheTTL    time.Duration
	nmiEndpoint string
	strict      bool
}

// klogFlags are the flags klog.InitFlags registers in upstream's binary,
// with klog's defaults.
var klogFlags = []struct{ name, def, usage string }{
	{"vmodule", "", "klog: per-file verbosity (ignored: use -v)"},
	{"log_dir", "", "klog: log directory (ignored: logs go to stderr)"},
	{"log_file", "", "klog: log file (ignored: logs go to stderr)"},
	{"log_file_max_size", "1800", "klog: log file size limit in MB (ignored)"},
	{"logtostderr", "true", "klog: log to stderr (always true here)"},
	{"alsologtostderr", "false", "klog: also log to stderr (logs always go to stderr)"},
	{"stderrthreshold", "2", "klog: stderr threshold (ignored: every line goes to stderr)"},
	{"skip_headers", "false", "klog: omit headers (ignored)"},
	{"skip_log_headers", "false", "klog: omit file headers (ignored)"},
	{"add_dir_header", "false", "klog: add the directory to headers (ignored)"},
	{"one_output", "false", "klog: one output per severity (ignored)"},
	{"log_backtrace_at", ":0", "klog: backtrace at file:line (ignored)"},
}

// newFlagSet binds every flag to f: upstream provider v1.8.2's names and
// defaults (cmd/main.go, pkg/version, klog), then kvcsi's additions.
func newFlagSet(f *flags) *flag.FlagSet {
	fs := flag.NewFlagSet("secrets-store-provider-azure", flag.ContinueOnError)
	fs.StringVar(&f.endpoint, "endpoint", "unix:///tmp/azure.sock", "unix socket the driver dials")
	fs.BoolVar(&f.constructPEMChain, "construct-pem-chain", true, "order a certificate's chain leaf to root")
	fs.BoolVar(&f.separateFiles, "write-cert-and-key-in-separate-files", false, "also write <file>.crt and <file>.key for certificates")
	fs.IntVar(&f.healthzPort, "healthz-port", 8989, "port of the health endpoint")
	fs.StringVar(&f.healthzPath, "healthz-path", "/healthz", "path of the health endpoint")
	fs.DurationVar(&f.healthzTimeout, "healthz-timeout", 5*time.Second, "timeout of the gRPC health check behind the health endpoint")
	fs.IntVar(&f.prometheusPort, "prometheus-port", 8898, "port of the Prometheus metrics endpoint (/metrics)")
	fs.StringVar(&f.metricsBackend, "metrics-backend", "Prometheus", "metrics backend; Prometheus is the only one (as upstream)")
	fs.StringVar(&f.cloudName, "cloud-name", "AzurePublicCloud", "cloud used when a SecretProviderClass sets no cloudName")
	fs.BoolVar(&f.logJSON, "log-format-json", false, "log as JSON")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.BoolVar(&f.enablePprof, "enable-pprof", false, "serve net/http/pprof on localhost:--pprof-port")
	fs.IntVar(&f.pprofPort, "pprof-port", 6060, "port of the pprof endpoint (localhost only)")
	fs.StringVar(&f.customUserAgent, "custom-user-agent", "", "appended to the User-Agent of Key Vault and Entra ID requests")
	fs.StringVar(&f.tokenProxyURL, "token-proxy-url", "", "AKS identity binding token proxy (accepted and ignored: kvcsi does not implement identity binding)")
	fs.StringVar(&f.sniName, "sni-name", "", "AKS identity binding SNI name (accepted and ignored: kvcsi does not implement identity binding)")
	fs.IntVar(&f.verbosity, "v", 0, "log verbosity; 4 and above also log each object fetched (names, never values)")
	f.klog = map[string]*string{}
	for _, k := range klogFlags {
		f.klog[k.name] = fs.String(k.name, k.def, k.usage)
	}
	fs.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra CA certificates to trust (private clouds, emulators)")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", 10*time.Second, "how long a fetched object is reused for the same identity; keep it well under the driver's --rotation-poll-interval; 0 disables")
	fs.StringVar(&f.nmiEndpoint, "nmi-endpoint", "http://localhost:2579", "aad-pod-identity NMI endpoint for usePodIdentity")
	fs.BoolVar(&f.strict, "strict", false, "refuse (InvalidArgument) the SecretProviderClass settings that are otherwise mounted as upstream does with a warning; see docs/compatibility.md")
	return fs
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := newFlagSet(f)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: all settings are flags", fs.Args())
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--healthz-port", f.healthzPort}, {"--prometheus-port", f.prometheusPort}, {"--pprof-port", f.pprofPort}} {
		if p.v < 0 || p.v > 65535 {
			return nil, fmt.Errorf("%s %d is not a port: use 1-65535 (0 disables)", p.name, p.v)
		}
	}
	if f.cacheTTL < 0 {
		return nil, fmt.Errorf("--cache-ttl %v is negative: use 0 to disable the cache", f.cacheTTL)
	}
	if !strings.EqualFold(f.metricsBackend, "prometheus") {
		return nil, fmt.Errorf("unsupported metrics backend %q: --metrics-backend Prometheus is the only one (as upstream)", f.metricsBackend)
	}
	return f, nil
}

// ignoredFlagWarnings say, for each flag that is accepted for upstream's
// manifests but has no effect here, that it is ignored and why.
func ignoredFlagWarnings(f *flags) []string {
	var w []string
	if f.tokenProxyURL != "" {
		w = append(w, "--token-proxy-url is ignored: it configures AKS identity binding, which kvcsi does not implement; workload identity exchanges the pod's token with Entra ID directly")
	}
	if f.sniName != "" {
		w = append(w, "--sni-name is ignored: it configures AKS identity binding, which kvcsi does not implement")
	}
	for _, k := range klogFlags {
		if v := *f.klog[k.name]; v != k.def {
			w = append(w, fmt.Sprintf("-%s=%s is ignored: this provider logs to stderr (log/slog; -v and --log-format-json apply)", k.name, v))
		}
	}
	return w
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
	for _, w := range ignoredFlagWarnings(f) {
		log.Warn(w)
	}

	cfg := server.Config{
		ConstructPEMChain:              f.constructPEMChain,
		WriteCertAndKeyInSeparateFiles: f.separateFiles,
		CloudName:                      f.cloudName,
		CacheTTL:                       f.cacheTTL,
		NMIEndpoint:                    f.nmiEndpoint,
		Strict:                         f.strict,
		UserAgent:                      f.customUserAgent,
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
	if f.enablePprof {
		// localhost only, as upstream: profiles expose memory contents.
		hs := &http.Server{Addr: net.JoinHostPort("localhost", strconv.Itoa(f.pprofPort)), Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		https = append(https, hs)
		go func() {
			if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("pprof: listen on localhost:%d: %v", f.pprofPort, err)
			}
		}()
	}
	serveHTTP(f.healthzPort, f.healthzPath, server.HealthzHandler(sock, f.healthzTimeout))
	go func() { errc <- g.Serve(lis) }()
	log.Info("provider started", "version", buildinfo.Version, "endpoint", f.endpoint, "cache-ttl", f.cacheTTL.String(), "construct-pem-chain", f.constructPEMChain, "strict", f.strict)

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

// pprofMux serves net/http/pprof's handlers (not on the default mux, so
// nothing else registered there is exposed).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
