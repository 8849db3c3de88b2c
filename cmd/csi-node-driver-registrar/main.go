// Command csi-node-driver-registrar is kvcsi's small equivalent of the
// kubernetes-csi node-driver-registrar sidecar, with its flag names: it
// registers the CSI driver at --csi-address with the kubelet through the
// plugin-registration socket in --plugin-registration-path. The logic is in
// internal/registrar.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/internal/registrar"
	"github.com/kvcsi/kvcsi/internal/sidecar"
)

// Modes, as upstream names them.
const (
	modeRegistration = "registration"
	modeProbe        = "kubelet-registration-probe"
)

func main() { sidecar.Main("csi-node-driver-registrar", realMain) }

func realMain(ctx context.Context, args []string) error {
	fs := sidecar.NewFlags("csi-node-driver-registrar")
	var cfg registrar.Config
	fs.StringVar(&cfg.CSIAddress, "csi-address", "/run/csi/socket", "Path of the CSI driver socket that the registrar connects to.")
	fs.StringVar(&cfg.KubeletRegistrationPath, "kubelet-registration-path", "", "Path of the CSI driver socket on the Kubernetes host machine (required).")
	fs.StringVar(&cfg.PluginRegistrationPath, "plugin-registration-path", "/registration", "Path to the kubelet's plugin registration directory.")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Second, "Timeout of each call to the CSI driver.")
	httpEndpoint := fs.String("http-endpoint", "", "The TCP network address where the HTTP server for the health check (/healthz: the registration socket exists and answers) listens, e.g. `:9809`. Empty disables it. Only one of --health-port and --http-endpoint can be set.")
	healthPort := fs.Int("health-port", 0, "(deprecated) TCP port for healthz requests; 0 disables. Only one of --health-port and --http-endpoint can be set.")
	mode := fs.String("mode", modeRegistration, `"registration" runs the registrar; "kubelet-registration-probe" exits 0 if the kubelet has asked for the registration info (use it as an exec probe with the same --kubelet-registration-path).`)
	connectionTimeout := fs.Duration("connection-timeout", 0, "(deprecated) has no effect; kept so upstream manifests work.")
	if done, err := fs.Parse(args); done || err != nil {
		return err
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
		ln, err := sidecar.Listen(addr, "--http-endpoint/--health-port")
		if err != nil {
			return err
		}
		go func() {
			if err := sidecar.Serve(ctx, ln, r.Health()); err != nil {
				klog.ErrorS(err, "health server stopped")
			}
		}()
		klog.InfoS("Serving /healthz", "address", ln.Addr().String())
	}
	return r.Run(ctx)
}
