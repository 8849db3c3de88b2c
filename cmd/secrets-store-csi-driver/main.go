// Command secrets-store-csi-driver is the Secrets Store CSI driver's node
// plugin: it serves CSI to kubelet, calls providers, writes the volumes,
// records pod statuses, syncs Kubernetes Secrets and rotates content. It
// only binds flags into a daemon.Config and runs driver/daemon until a
// signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/daemon"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
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
	enablePprof                 bool
	pprofPort                   int
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
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "serve net/http/pprof on localhost:--pprof-port")
	fs.IntVar(&o.pprofPort, "pprof-port", 6065, "port of --enable-pprof (bound to localhost only)")
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
	if o.enablePprof && (o.pprofPort <= 0 || o.pprofPort > 65535) {
		errs = append(errs, fmt.Errorf("--pprof-port %d is not a port: pass 1-65535 (default 6065)", o.pprofPort))
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
	defer klog.Flush()

	restCfg, err := kubeConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	d, err := daemon.New(o.config(restCfg, log))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return d.Run(ctx)
}

// newLogger returns klog's text logger, or a JSON logger that honours -v
// and becomes klog's backend (klog.SetLogger, the one call), so klog calls in
// libraries log JSON too. Only a logger that is not klog's own may back klog:
// klog.Background() calls back into klog, and klog.SetLogger with it would
// recurse until the stack overflows on the first klog line.
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

// pprofAddr is where --enable-pprof serves: localhost only (upstream binds
// every interface; profiles reveal memory, so kvcsi keeps them on the node).
func (o *options) pprofAddr() string {
	if !o.enablePprof {
		return ""
	}
	return net.JoinHostPort("localhost", strconv.Itoa(o.pprofPort))
}

// config turns the flags into the driver's Config.
func (o *options) config(restCfg *rest.Config, log logr.Logger) daemon.Config {
	return daemon.Config{
		Endpoint:                    o.endpoint,
		DriverName:                  o.driverName,
		NodeID:                      o.nodeID,
		ProviderDirs:                o.providerDirs(),
		MetricsAddr:                 o.metricsAddr,
		Rotation:                    o.enableSecretRotation,
		RotationPollInterval:        o.rotationPollInterval,
		MaxCallRecvMsgSize:          o.maxCallRecvMsgSize,
		ProviderHealthCheck:         o.providerHealthCheck,
		ProviderHealthCheckInterval: o.providerHealthCheckInterval,
		PprofAddr:                   o.pprofAddr(),
		REST:                        restCfg,
		Log:                         log,
	}
}
