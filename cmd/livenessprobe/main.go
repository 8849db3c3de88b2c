// Command livenessprobe is kvcsi's small equivalent of the kubernetes-csi
// livenessprobe sidecar, with its flag names: it serves /healthz on
// --health-port (9808) or --http-endpoint and answers with the CSI driver's
// Probe over --csi-address. The logic is in internal/livenessprobe.
package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/internal/livenessprobe"
	"github.com/kvcsi/kvcsi/internal/sidecar"
)

const defaultHealthPort = "9808"

func main() { sidecar.Main("livenessprobe", realMain) }

func realMain(ctx context.Context, args []string) error {
	fs := sidecar.NewFlags("livenessprobe")
	var cfg livenessprobe.Config
	fs.StringVar(&cfg.CSIAddress, "csi-address", "/run/csi/socket", "Address of the CSI driver socket.")
	fs.DurationVar(&cfg.ProbeTimeout, "probe-timeout", time.Second, "Probe timeout.")
	healthPort := fs.String("health-port", defaultHealthPort, "TCP port for listening for healthz requests. Only one of --health-port and --http-endpoint can be set.")
	httpEndpoint := fs.String("http-endpoint", "", "The TCP network address where the HTTP server for the health check will listen (example: `:8080`). Only one of --health-port and --http-endpoint can be set.")
	if done, err := fs.Parse(args); done || err != nil {
		return err
	}
	portSet := false
	fs.Visit(func(f *flag.Flag) { portSet = portSet || f.Name == "health-port" })
	if portSet && *httpEndpoint != "" {
		return errors.New("only one of --health-port and --http-endpoint can be set")
	}
	addr := *httpEndpoint
	if addr == "" {
		addr = net.JoinHostPort("0.0.0.0", *healthPort)
	}
	h, err := livenessprobe.New(cfg)
	if err != nil {
		return err
	}
	ln, err := sidecar.Listen(addr, "--health-port/--http-endpoint")
	if err != nil {
		return err
	}
	klog.InfoS("Serving /healthz", "address", ln.Addr().String(), "csiAddress", cfg.CSIAddress, "version", buildinfo.Version)
	return sidecar.Serve(ctx, ln, h.Mux())
}
