// Command livenessprobe is kvcsi's small equivalent of the kubernetes-csi
// livenessprobe sidecar, with its flag names: it serves /healthz on
// --health-port (9808) or --http-endpoint and answers with the CSI driver's
// Probe over --csi-address. The logic is in internal/livenessprobe.
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
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/internal/livenessprobe"
)

const defaultHealthPort = "9808"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:])
	stop()
	klog.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "livenessprobe:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("livenessprobe", flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg livenessprobe.Config
	fs.StringVar(&cfg.CSIAddress, "csi-address", "/run/csi/socket", "Address of the CSI driver socket.")
	fs.DurationVar(&cfg.ProbeTimeout, "probe-timeout", time.Second, "Probe timeout.")
	healthPort := fs.String("health-port", defaultHealthPort, "TCP port for listening for healthz requests. Only one of --health-port and --http-endpoint can be set.")
	httpEndpoint := fs.String("http-endpoint", "", "The TCP network address where the HTTP server for the health check will listen (example: `:8080`). Only one of --health-port and --http-endpoint can be set.")
	version := fs.Bool("version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println("livenessprobe (kvcsi)", buildinfo.Version)
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (--health-port/--http-endpoint): %w", addr, err)
	}
	klog.InfoS("Serving /healthz", "address", ln.Addr().String(), "csiAddress", cfg.CSIAddress, "version", buildinfo.Version)
	srv := &http.Server{Handler: h.Mux(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
