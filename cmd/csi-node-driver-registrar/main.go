// Command csi-node-driver-registrar is kvcsi's small equivalent of the
// kubernetes-csi node-driver-registrar sidecar, with its flag names: it
// registers the CSI driver at --csi-address with the kubelet through the
// plugin-registration socket in --plugin-registration-path. The logic is in
// internal/registrar.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/internal/registrar"
)

// Modes, as upstream names them.
const (
	modeRegistration = "registration"
	modeProbe        = "kubelet-registration-probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:])
	stop()
	klog.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "csi-node-driver-registrar:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("csi-node-driver-registrar", flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg registrar.Config
	fs.StringVar(&cfg.CSIAddress, "csi-address", "/run/csi/socket", "Path of the CSI driver socket that the registrar connects to.")
	fs.StringVar(&cfg.KubeletRegistrationPath, "kubelet-registration-path", "", "Path of the CSI driver socket on the Kubernetes host machine (required).")
	fs.StringVar(&cfg.PluginRegistrationPath, "plugin-registration-path", "/registration", "Path to the kubelet's plugin registration directory.")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Second, "Timeout of each call to the CSI driver.")
	httpEndpoint := fs.String("http-endpoint", "", "The TCP network address where the HTTP server for the health check (/healthz: the registration socket exists and answers) listens, e.g. `:9809`. Empty disables it. Only one of --health-port and --http-endpoint can be set.")
	healthPort := fs.Int("health-port", 0, "(deprecated) TCP port for healthz requests; 0 disables. Only one of --health-port and --http-endpoint can be set.")
	mode := fs.String("mode", modeRegistration, `"registration" runs the registrar; "kubelet-registration-probe" exits 0 if the kubelet has asked for the registration info (use it as an exec probe with the same --kubelet-registration-path).`)
	connectionTimeout := fs.Duration("connection-timeout", 0, "(deprecated) has no effect; kept so upstream manifests work.")
	version := fs.Bool("version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println("csi-node-driver-registrar (kvcsi)", buildinfo.Version)
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *connectionTimeout != 0 {
		klog.Warning("--connection-timeout is deprecated and has no effect")
	}
	if cfg.KubeletRegistrationPath == "" {
		return errors.New("--kubelet-registration-path is required: the driver socket's path on the host, e.g. /var/lib/kubelet/plugins/csi-secrets-store/csi.sock")
	}
	switch *mode {
	case modeProbe:
		if _, err := os.Stat(cfg.ProbeFile()); err != nil {
			return fmt.Errorf("kubelet plugin registration has not happened yet: %w", err)
		}
		fmt.Println("Kubelet plugin registration succeeded.")
		return nil
	case modeRegistration:
	default:
		return fmt.Errorf("--mode %q: want %q or %q", *mode, modeRegistration, modeProbe)
	}
	if *healthPort > 0 && *httpEndpoint != "" {
		return errors.New("only one of --health-port and --http-endpoint can be set")
	}
	addr := *httpEndpoint
	if *healthPort > 0 {
		addr = ":" + strconv.Itoa(*healthPort)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	klog.InfoS("Starting csi-node-driver-registrar", "version", buildinfo.Version, "mode", *mode)
	r, err := registrar.New(ctx, cfg)
	if err != nil {
		return err
	}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s (--http-endpoint/--health-port): %w", addr, err)
		}
		srv := &http.Server{Handler: r.Health(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		klog.InfoS("Serving /healthz", "address", ln.Addr().String())
	}
	return r.Run(ctx)
}
