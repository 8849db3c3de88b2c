// Command secrets-store-sync-controller is kvcsi's drop-in for
// kubernetes-sigs/secrets-store-sync-controller: it syncs SecretSync objects
// into Kubernetes Secrets through a provider on --provider-volume. Flags →
// secretsynccontroller.Config → secretsynccontroller.Run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/secretsynccontroller"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		klog.ErrorS(err, "secrets-store-sync-controller failed")
		klog.Flush()
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("secrets-store-sync-controller", flag.ContinueOnError)
	var (
		audiences   = fs.String("token-request-audience", "", "Audience for the token request, comma separated.")
		provider    = fs.String("provider-volume", secretsynccontroller.DefaultProviderVolume, "Volume path for provider.")
		poll        = fs.Duration("rotation-poll-interval", secretsynccontroller.DefaultRotationPollInterval, "Polling interval to resync secrets from the provider. Defaults to 12h. To disable provider polling, set it to 0s.")
		maxRecv     = fs.Int("max-call-recv-msg-size", 1024*1024*4, "maximum size in bytes of gRPC response from plugins")
		metrics     = fs.String("metrics-bind-address", secretsynccontroller.DefaultMetricsAddr, "The address the metric endpoint binds to.")
		probe       = fs.String("health-probe-bind-address", secretsynccontroller.DefaultProbeAddr, "The address the probe endpoint binds to.")
		leader      = fs.Bool("leader-elect", false, "Enable leader election for controller manager. Enabling this will ensure there is only one active controller manager.")
		leaderNS    = fs.String("leader-election-namespace", "", "Namespace of the leader election Lease; default: the pod's namespace (SYNC_CONTROLLER_POD_NAMESPACE), else kube-system.")
		kubeconfig  = fs.String("kubeconfig", "", "kubeconfig file; default: the in-cluster configuration")
		showVersion = fs.Bool("version", false, "Print the version and exit")
	)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(buildinfo.Version)
		return nil
	}
	if *poll < 0 {
		return fmt.Errorf("--rotation-poll-interval must be 0 (disabled) or positive, got %s", *poll)
	}
	var cfg *rest.Config
	var err error
	if *kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	var auds []string
	for _, a := range strings.Split(*audiences, ",") {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer klog.Flush()
	klog.InfoS("starting secrets-store-sync-controller", "version", buildinfo.Version)
	return secretsynccontroller.Run(ctx, secretsynccontroller.Config{
		REST: cfg, TokenRequestAudiences: auds, ProviderVolume: *provider, RotationPollInterval: *poll,
		MaxCallRecvMsgSize: *maxRecv, MetricsAddr: *metrics, ProbeAddr: *probe,
		LeaderElect: *leader, LeaderElectionNamespace: *leaderNS,
		PodName: os.Getenv("SYNC_CONTROLLER_POD_NAME"), PodUID: os.Getenv("SYNC_CONTROLLER_POD_UID"),
		Log: klog.Background(),
	})
}
