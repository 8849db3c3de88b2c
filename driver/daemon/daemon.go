// Package daemon is the driver process: New builds every part of the node plugin from a Config
// (API clients, provider pool, CSI server, pod statuses, secret sync, informers, rotation, the
// metrics and health endpoint) and Run serves until the context ends. The command
// (cmd/secrets-store-csi-driver) only turns flags into a Config.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/events"
	"github.com/kvcsi/kvcsi/driver/informers"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/rotation"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Config is the driver's configuration: the process flags, resolved.
type Config struct {
	// Endpoint is the CSI socket, unix://path (--endpoint).
	Endpoint string
	// DriverName is the CSI driver name (--drivername).
	DriverName string
	// NodeID is the Kubernetes node name (--nodeid).
	NodeID string
	// ProviderDirs are searched for <provider>.sock, in order
	// (--additional-provider-volume-paths, then --provider-volume).
	ProviderDirs []string
	// MetricsAddr serves /metrics and /healthz (--metrics-addr).
	MetricsAddr string
	// Rotation enables the poll loop (--enable-secret-rotation) every RotationPollInterval.
	Rotation             bool
	RotationPollInterval time.Duration
	// MaxCallRecvMsgSize bounds a provider's MountResponse (--max-call-recv-msg-size).
	MaxCallRecvMsgSize int
	// ProviderHealthCheck calls every provider's Version every ProviderHealthCheckInterval.
	ProviderHealthCheck         bool
	ProviderHealthCheckInterval time.Duration
	// PprofAddr, when set, serves net/http/pprof there (--enable-pprof, --pprof-port).
	PprofAddr string
	// REST is the API server configuration (in-cluster or --kubeconfig).
	REST *rest.Config
	// Log is the driver's logger.
	Log logr.Logger
}

// Driver is a built driver; Run serves it.
type Driver struct {
	cfg      Config
	log      logr.Logger
	rec      *metrics.Recorder
	pool     *providerclient.Pool
	events   *events.Broadcaster
	inf      *informers.Informers
	syncer   *secretsync.Syncer
	srv      *csiplugin.Server
	rotator  *rotation.Rotator
	listener net.Listener
}

// New builds every part; nothing runs until Run.
func New(cfg Config) (*Driver, error) {
	if cfg.REST == nil {
		return nil, errors.New("daemon: no API server configuration")
	}
	restCfg := rest.CopyConfig(cfg.REST)
	restCfg.UserAgent = "secrets-store-csi-driver/" + buildinfo.Version
	// client-go's default (5 QPS, burst 10) throttles a node where many pods
	// start at once: every publish writes a pod status. Use kubelet's
	// defaults instead.
	restCfg.QPS, restCfg.Burst = 50, 100
	restCfg.Wrap(brokenNeverReconnect) // mutation tests only (break.go)
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	ssClient, err := spcclient.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}

	d := &Driver{cfg: cfg, log: cfg.Log, rec: metrics.New()}
	d.pool, err = providerclient.New(providerclient.Config{Dirs: cfg.ProviderDirs, MaxRecvMsgSize: cfg.MaxCallRecvMsgSize, Log: cfg.Log.WithName("providers")})
	if err != nil {
		return nil, err
	}
	d.events = events.New(kube)
	d.inf, err = informers.New(kube, ssClient.Dynamic(), cfg.NodeID, informers.Options{Rotation: cfg.Rotation})
	if err != nil {
		return nil, d.close(err)
	}
	statuses, err := podstatus.New(ssClient, cfg.NodeID)
	if err != nil {
		return nil, d.close(err)
	}
	d.syncer, err = secretsync.New(secretsync.Config{
		Client:   kube,
		Recorder: d.events.Recorder(events.SourceSecretSync),
		Metrics:  d.rec,
		Secrets:  d.inf.ManagedSecrets(),
	})
	if err != nil {
		return nil, d.close(err)
	}
	d.srv, err = csiplugin.New(csiplugin.Config{
		DriverName: cfg.DriverName,
		Version:    buildinfo.Version,
		NodeID:     cfg.NodeID,
		SPCs:       csiplugin.SPCsFromClient(ssClient),
		Refresher:  &content.Refresher{Providers: d.pool},
		Hooks:      driver.Hooks{statuses, d.syncer},
		Metrics:    d.rec,
		Log:        cfg.Log.WithName("csi"),
		Recorder:   d.events.Recorder(events.SourceDriver),
		// Tells kubelet's service-account tokens from a user's
		// volumeAttributes key of the same name.
		KubeletSetsTokens: csiplugin.TokenRequestsFromCSIDriver(kube, cfg.DriverName, time.Minute),
		// kubelet republishes about every minute when the CSIDriver asks for
		// it; content changes no more often than the documented poll
		// interval, and never with rotation off.
		RepublishInterval: republishInterval(cfg),
	})
	if err != nil {
		return nil, d.close(err)
	}
	if cfg.Rotation {
		d.rotator, err = rotation.New(rotation.Config{
			NodeName:   cfg.NodeID,
			DriverName: cfg.DriverName,
			Interval:   cfg.RotationPollInterval,
			Kube:       kube,
			SPC:        ssClient,
			PodStatus:  statuses,
			Refresher:  d.srv,
			Syncer:     d.syncer,
			Watches:    d.inf,
			Recorder:   d.events.Recorder(events.SourceRotation),
			Metrics:    d.rec,
			// nil (rotation's own check) unless broken for a mutation test (break.go).
			TargetMounted: brokenTargetMounted(),
		})
		if err != nil {
			return nil, d.close(err)
		}
	}
	d.listener, err = csiplugin.Listen(cfg.Endpoint)
	if err != nil {
		return nil, d.close(fmt.Errorf("--endpoint %s: %w", cfg.Endpoint, err))
	}
	return d, nil
}

// close releases what New built so far and returns err.
func (d *Driver) close(err error) error {
	if d.events != nil {
		d.events.Shutdown()
	}
	if d.pool != nil {
		_ = d.pool.Close()
	}
	return err
}

// Run serves CSI, the metrics endpoint and (when enabled) pprof, and runs the informers, the
// secret-sync retries, rotation and the provider health check, until ctx ends or a server fails.
func (d *Driver) Run(ctx context.Context) error {
	defer d.close(nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The informers are narrowed to this node and the driver's own
	// Secrets; start them in the background so CSI is served at once.
	go func() {
		if err := d.inf.Start(ctx, 2*time.Minute); err != nil {
			d.log.Error(err, "informers did not start")
		}
	}()
	go d.syncer.Run(ctx)
	if d.rotator != nil {
		go d.rotator.Run(ctx)
	}
	if d.cfg.ProviderHealthCheck {
		go d.pool.RunHealthCheck(ctx, d.cfg.ProviderHealthCheckInterval)
	}

	httpErr := make(chan error, 2)
	stopHTTP := d.serveHTTP(d.cfg.MetricsAddr, "--metrics-addr", d.httpHandler(), httpErr)
	defer stopHTTP()
	if d.cfg.PprofAddr != "" {
		stopPprof := d.serveHTTP(d.cfg.PprofAddr, "--pprof-port", pprofHandler(), httpErr)
		defer stopPprof()
	}

	csiErr := make(chan error, 1)
	go func() { csiErr <- d.srv.Serve(ctx, d.listener) }()
	select {
	case err := <-httpErr:
		return err
	case err := <-csiErr:
		if ctx.Err() != nil {
			return nil
		}
		return err
	case <-ctx.Done():
		<-csiErr
		brokenUnmountOnExit(d.cfg.DriverName, d.log) // mutation tests only (break.go)
		d.log.Info("stopped")
		return nil
	}
}

// serveHTTP serves h on addr in the background; a listen failure goes to errs, naming flag.
func (d *Driver) serveHTTP(addr, flag string, h http.Handler, errs chan<- error) (stop func()) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		d.log.Info("serving HTTP", "address", addr, "flag", flag)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("%s %s: %w", flag, addr, err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

// republishInterval is how often kubelet's republish calls may refresh a
// mounted volume: the rotation poll interval, or never when rotation is off.
func republishInterval(cfg Config) time.Duration {
	if !cfg.Rotation {
		return time.Duration(math.MaxInt64)
	}
	return cfg.RotationPollInterval
}

// httpHandler serves /metrics and a /healthz that calls the plugin's Probe.
func (d *Driver) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.rec.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := d.srv.Probe(r.Context(), &csi.ProbeRequest{})
		if err != nil || !resp.GetReady().GetValue() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}
