// Command secrets-store-csi-driver is the Secrets Store CSI driver's node
// plugin: it serves CSI to kubelet, calls providers, writes the volumes,
// records pod statuses, syncs Kubernetes Secrets and rotates content. It
// only binds flags, builds the parts and waits for a signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/events"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/mount"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/rotation"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// options are the process flags, with upstream names and defaults.
type options struct {
	endpoint                    string
	driverName                  string
	nodeID                      string
	providerVolume              string
	additionalProviderPaths     string
	metricsAddr                 string
	enableSecretRotation        bool
	rotationPollInterval        time.Duration
	maxCallRecvMsgSize          int
	providerHealthCheck         bool
	providerHealthCheckInterval time.Duration
	logFormatJSON               bool
	version                     bool
	kubeconfig                  string
}

func bindFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.endpoint, "endpoint", "unix://tmp/csi.sock", "CSI endpoint (unix socket)")
	fs.StringVar(&o.driverName, "drivername", driver.Name, "name of the driver")
	fs.StringVar(&o.nodeID, "nodeid", "", "node ID: the Kubernetes node name (manifests pass $(KUBE_NODE_NAME))")
	fs.StringVar(&o.providerVolume, "provider-volume", "/var/run/secrets-store-csi-providers", "directory of the provider sockets <provider>.sock")
	fs.StringVar(&o.additionalProviderPaths, "additional-provider-volume-paths", "/etc/kubernetes/secrets-store-csi-providers", "comma-separated directories searched for provider sockets before --provider-volume")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8095", "address of the /metrics and /healthz endpoint")
	fs.BoolVar(&o.enableSecretRotation, "enable-secret-rotation", false, "rotate mounted content and synced Secrets every --rotation-poll-interval")
	fs.DurationVar(&o.rotationPollInterval, "rotation-poll-interval", 2*time.Minute, "how often rotation polls the providers")
	fs.IntVar(&o.maxCallRecvMsgSize, "max-call-recv-msg-size", providerclient.DefaultMaxRecvMsgSize, "largest provider MountResponse accepted, in bytes")
	fs.BoolVar(&o.providerHealthCheck, "provider-health-check", false, "periodically call every provider's Version and log failures")
	fs.DurationVar(&o.providerHealthCheckInterval, "provider-health-check-interval", 2*time.Minute, "interval of --provider-health-check")
	fs.BoolVar(&o.logFormatJSON, "log-format-json", false, "log in JSON")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; default: the in-cluster configuration")
	klog.InitFlags(fs) // -v and the other klog flags
	return o
}

// validate checks the flags before anything starts; each error names the
// flag and the fix.
func (o *options) validate() error {
	var errs []error
	if o.nodeID == "" {
		errs = append(errs, errors.New("--nodeid is required: pass the node name, e.g. --nodeid=$(KUBE_NODE_NAME)"))
	}
	if o.providerVolume == "" {
		errs = append(errs, errors.New("--provider-volume is empty: set the directory of the provider sockets"))
	}
	if _, err := csiplugin.ParseEndpoint(o.endpoint); err != nil {
		errs = append(errs, err)
	}
	if o.rotationPollInterval <= 0 {
		errs = append(errs, fmt.Errorf("--rotation-poll-interval %s must be positive, e.g. 2m", o.rotationPollInterval))
	}
	if o.providerHealthCheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("--provider-health-check-interval %s must be positive", o.providerHealthCheckInterval))
	}
	if o.maxCallRecvMsgSize <= 0 {
		errs = append(errs, fmt.Errorf("--max-call-recv-msg-size %d must be positive", o.maxCallRecvMsgSize))
	}
	return errors.Join(errs...)
}

// providerDirs lists the directories searched for sockets, additional
// paths first (as upstream).
func (o *options) providerDirs() []string {
	var dirs []string
	for _, d := range strings.Split(o.additionalProviderPaths, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	return append(dirs, o.providerVolume)
}

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "secrets-store-csi-driver:", err)
		os.Exit(1)
	}
}

func realMain(args []string) error {
	fs := flag.NewFlagSet("secrets-store-csi-driver", flag.ContinueOnError)
	o := bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.version {
		fmt.Println(buildinfo.Version)
		return nil
	}
	if err := o.validate(); err != nil {
		return err
	}
	log := newLogger(o, fs)
	if o.logFormatJSON {
		// Only a logger that is not klog's own may back klog: klog.Background() calls back
		// into klog, and klog.SetLogger with it recurses until the stack overflows on the
		// first klog line (rotation's start message).
		klog.SetLogger(log)
	}
	defer klog.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, o, log)
}

// newLogger returns klog's text logger, or a JSON logger that honours -v
// and becomes klog's backend, so klog calls in libraries log JSON too.
// (klog.Background must never be given to klog.SetLogger: it would call
// itself.)
func newLogger(o *options, fs *flag.FlagSet) logr.Logger {
	if !o.logFormatJSON {
		return klog.Background()
	}
	v := 0
	if f := fs.Lookup("v"); f != nil {
		fmt.Sscan(f.Value.String(), &v)
	}
	l := funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) }, funcr.Options{Verbosity: v, LogTimestamp: true})
	klog.SetLogger(l)
	return l
}

func kubeConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("no in-cluster configuration (%w): run in a pod or pass --kubeconfig", err)
	}
	return cfg, nil
}

func run(ctx context.Context, o *options, log logr.Logger) error {
	restCfg, err := kubeConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.UserAgent = "secrets-store-csi-driver/" + buildinfo.Version
	// client-go's default (5 QPS, burst 10) throttles a node where many pods
	// start at once: every publish writes a pod status. Use kubelet's
	// defaults instead.
	restCfg.QPS, restCfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	ssClient, err := spcclient.NewForConfig(restCfg)
	if err != nil {
		return err
	}

	rec := metrics.New()
	pool, err := providerclient.New(providerclient.Config{Dirs: o.providerDirs(), MaxRecvMsgSize: o.maxCallRecvMsgSize, Log: log.WithName("providers")})
	if err != nil {
		return err
	}
	defer pool.Close()
	refresher := &mount.Refresher{Providers: pool}

	broadcaster := events.New(kube)
	defer broadcaster.Shutdown()

	watches, err := rotation.NewWatches(kube, ssClient.Dynamic(), o.nodeID)
	if err != nil {
		return err
	}
	statuses, err := podstatus.New(ssClient, o.nodeID)
	if err != nil {
		return err
	}
	syncer, err := secretsync.New(secretsync.Config{
		Client:   kube,
		Recorder: broadcaster.Recorder(events.SourceSecretSync),
		Metrics:  rec,
		Secrets:  watches.ManagedSecrets,
	})
	if err != nil {
		return err
	}

	srv, err := csiplugin.New(csiplugin.Config{
		DriverName: o.driverName,
		Version:    buildinfo.Version,
		NodeID:     o.nodeID,
		SPCs:       csiplugin.SPCsFromClient(ssClient),
		Refresher:  refresher,
		Hooks:      driver.Hooks{statuses, syncer},
		Metrics:    rec,
		Log:        log.WithName("csi"),
		// kubelet republishes about every minute when the CSIDriver asks for
		// it; content changes no more often than the documented poll
		// interval, and never with rotation off.
		RepublishInterval: republishInterval(o),
	})
	if err != nil {
		return err
	}

	lis, err := csiplugin.Listen(o.endpoint)
	if err != nil {
		return fmt.Errorf("--endpoint %s: %w", o.endpoint, err)
	}

	// The informers are narrowed to this node and the driver's own
	// Secrets; start them in the background so CSI is served at once.
	go func() {
		if err := watches.Start(ctx, 2*time.Minute); err != nil {
			log.Error(err, "watches did not start")
		}
	}()
	go syncer.Run(ctx)

	if o.enableSecretRotation {
		rot, err := rotation.New(rotation.Config{
			NodeName:   o.nodeID,
			DriverName: o.driverName,
			Interval:   o.rotationPollInterval,
			Kube:       kube,
			SPC:        ssClient,
			PodStatus:  statuses,
			Refresher:  srv,
			Syncer:     syncer,
			Watches:    watches,
			Recorder:   broadcaster.Recorder(events.SourceRotation),
			Metrics:    rec,
		})
		if err != nil {
			return err
		}
		go rot.Run(ctx)
	}
	if o.providerHealthCheck {
		go pool.RunHealthCheck(ctx, o.providerHealthCheckInterval)
	}

	httpSrv := &http.Server{Addr: o.metricsAddr, Handler: httpHandler(rec, srv), ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() {
		log.Info("serving metrics", "address", o.metricsAddr)
		if err := httpSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- fmt.Errorf("--metrics-addr %s: %w", o.metricsAddr, err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()

	csiErr := make(chan error, 1)
	go func() { csiErr <- srv.Serve(ctx, lis) }()
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
		log.Info("stopped")
		return nil
	}
}

// republishInterval is how often kubelet's republish calls may refresh a
// mounted volume: the rotation poll interval, or never when rotation is off.
func republishInterval(o *options) time.Duration {
	if !o.enableSecretRotation {
		return time.Duration(math.MaxInt64)
	}
	return o.rotationPollInterval
}

// httpHandler serves /metrics and a /healthz that calls the plugin's Probe.
func httpHandler(rec *metrics.Recorder, srv *csiplugin.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", rec.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := srv.Probe(r.Context(), &csi.ProbeRequest{})
		if err != nil || !resp.GetReady().GetValue() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}
