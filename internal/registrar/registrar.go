// Package registrar is kvcsi's equivalent of the kubernetes-csi
// node-driver-registrar sidecar. It serves the kubelet's plugin-registration
// API (pluginregistration/v1) on <plugin-registration-path>/<driver>-reg.sock,
// where the kubelet's plugin watcher finds it, and tells the kubelet the
// driver's name and the host path of its CSI socket. The kubelet then records
// the driver in CSINode and makes the CSI node calls itself.
package registrar

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/kvcsi/kvcsi/internal/csiconn"
)

// SupportedVersions are the CSI versions reported to the kubelet, as the
// official registrar does.
var SupportedVersions = []string{"1.0.0"}

// Config is the registrar's configuration, from the official flags.
type Config struct {
	// CSIAddress is the driver's socket inside this container (--csi-address).
	CSIAddress string
	// KubeletRegistrationPath is the driver's socket on the host, which the
	// kubelet will dial (--kubelet-registration-path). Required.
	KubeletRegistrationPath string
	// PluginRegistrationPath is the kubelet's plugins_registry directory as
	// mounted here (--plugin-registration-path).
	PluginRegistrationPath string
	// Timeout bounds each call to the driver (--timeout).
	Timeout time.Duration
}

// Validate reports the first bad field, naming its flag.
func (c Config) Validate() error {
	if _, err := csiconn.Target(c.CSIAddress); err != nil {
		return err
	}
	if c.KubeletRegistrationPath == "" {
		return errors.New("--kubelet-registration-path is required: the driver socket's path on the host, e.g. /var/lib/kubelet/plugins/csi-secrets-store/csi.sock")
	}
	if !filepath.IsAbs(c.KubeletRegistrationPath) {
		return fmt.Errorf("--kubelet-registration-path %q must be an absolute host path", c.KubeletRegistrationPath)
	}
	if c.PluginRegistrationPath == "" {
		return errors.New("--plugin-registration-path is empty: give the kubelet's plugins_registry directory as mounted in this container, e.g. /registration")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--timeout %v must be positive, e.g. 1s", c.Timeout)
	}
	return nil
}

// ProbeFile is the file the registrar touches when the kubelet asked for its
// info, next to the driver socket; `--mode=kubelet-registration-probe` checks
// it, as upstream does.
func (c Config) ProbeFile() string {
	return filepath.Join(filepath.Dir(c.KubeletRegistrationPath), "registration")
}

// SocketPath is the registration socket for driver.
func (c Config) SocketPath(driver string) string {
	return filepath.Join(c.PluginRegistrationPath, driver+"-reg.sock")
}

// Registrar serves one driver's registration socket.
type Registrar struct {
	cfg    Config
	driver string
	socket string
	failed chan error // the kubelet reported that registration failed
}

// New checks cfg and asks the driver for its name, waiting until the driver
// answers or ctx ends.
func New(ctx context.Context, cfg Config) (*Registrar, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := csiconn.Dial(cfg.CSIAddress)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	klog.V(1).InfoS("Calling CSI driver to discover driver name", "csiAddress", cfg.CSIAddress)
	name, err := csiconn.WaitForDriverName(ctx, conn, cfg.Timeout, func(err error) {
		klog.InfoS("Still waiting for the CSI driver", "csiAddress", cfg.CSIAddress, "err", err)
	})
	if err != nil {
		return nil, err
	}
	klog.V(2).InfoS("CSI driver name", "driver", name)
	return &Registrar{cfg: cfg, driver: name, socket: cfg.SocketPath(name), failed: make(chan error, 1)}, nil
}

// Driver is the CSI driver's name.
func (r *Registrar) Driver() string { return r.driver }

// Socket is the registration socket's path.
func (r *Registrar) Socket() string { return r.socket }

// Run serves the registration socket until ctx ends (then it removes the
// socket and returns nil) or the kubelet reports a failed registration (then
// it returns that error, so the container restarts and registration is
// retried, as the official registrar does).
func (r *Registrar) Run(ctx context.Context) error {
	if err := removeStaleSocket(r.socket); err != nil {
		return err
	}
	lis, err := net.Listen("unix", r.socket)
	if err != nil {
		return fmt.Errorf("listen on registration socket %s: %w", r.socket, err)
	}
	// Only the kubelet (root) needs to connect.
	if err := os.Chmod(r.socket, 0o600); err != nil {
		lis.Close()
		return fmt.Errorf("restrict registration socket %s: %w", r.socket, err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &service{r: r})
	klog.InfoS("Registration server started", "socketPath", r.socket, "driver", r.driver, "endpoint", r.cfg.KubeletRegistrationPath)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	var runErr error
	select {
	case <-ctx.Done():
		klog.InfoS("Stopping registration server", "socketPath", r.socket)
	case runErr = <-r.failed:
	case err := <-served:
		runErr = fmt.Errorf("registration server stopped: %w", err)
	}
	// Graceful, so the kubelet gets the answer to the call that reported the
	// failure; bounded, so a stuck client cannot keep the registrar alive.
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop()
	}
	if err := os.Remove(r.socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		klog.ErrorS(err, "Failed to remove registration socket", "socketPath", r.socket)
	}
	return runErr
}

// removeStaleSocket deletes a socket left by an earlier run, which would
// otherwise make Listen fail with "address already in use". Anything that is
// not a socket is left alone and reported, because deleting it could destroy
// data.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registration socket %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("registration socket path %s exists and is not a socket (%v); remove it or fix --plugin-registration-path", path, fi.Mode().Type())
	}
	klog.InfoS("Removing stale registration socket", "socketPath", path)
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale registration socket %s: %w", path, err)
	}
	return nil
}
