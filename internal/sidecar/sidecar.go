// Package sidecar is what kvcsi's small equivalents of the kubernetes-csi
// sidecars (csi-node-driver-registrar, livenessprobe) share around their own
// logic: the signal-cancelled main, klog's flags and --version, and the
// health HTTP server. Their logic lives in internal/registrar and
// internal/livenessprobe.
package sidecar

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
)

// Main runs run with the command-line arguments and a context cancelled by
// SIGINT or SIGTERM, flushes klog, and exits 1 printing "name: error" when
// run fails.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	klog.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Flags is a sidecar's flag set with klog's flags (-v, …) and --version, as
// upstream's sidecars have.
type Flags struct {
	*flag.FlagSet
	version *bool
}

// NewFlags returns the flag set of command name.
func NewFlags(name string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	klog.InitFlags(fs)
	return &Flags{FlagSet: fs, version: fs.Bool("version", false, "Print the version and exit.")}
}

// Parse parses args, which must be flags only. With --version it prints
// "<name> (kvcsi) <version>" and returns done: the command has nothing more
// to do.
func (f *Flags) Parse(args []string) (done bool, err error) {
	if err := f.FlagSet.Parse(args); err != nil {
		return false, err
	}
	if *f.version {
		fmt.Println(f.Name(), "(kvcsi)", buildinfo.Version)
		return true, nil
	}
	if f.NArg() > 0 {
		return false, fmt.Errorf("unexpected arguments %q", f.Args())
	}
	return false, nil
}

// Listen opens the health server's TCP listener; flags names the flags addr
// came from, for the error.
func Listen(addr, flags string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, flags, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx is done, then shuts down within five
// seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
