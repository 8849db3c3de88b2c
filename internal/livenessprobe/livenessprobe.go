// Package livenessprobe is kvcsi's equivalent of the kubernetes-csi
// livenessprobe sidecar: an HTTP /healthz that answers with the CSI driver's
// Probe result, so the kubelet's livenessProbe on the driver container
// restarts a driver that stopped answering.
package livenessprobe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/internal/csiconn"
)

// Config is the probe's configuration, from the official flags.
type Config struct {
	// CSIAddress is the driver's socket (--csi-address).
	CSIAddress string
	// ProbeTimeout bounds each Probe call (--probe-timeout).
	ProbeTimeout time.Duration
}

func (c Config) validate() error {
	if _, err := csiconn.Target(c.CSIAddress); err != nil {
		return err
	}
	if c.ProbeTimeout <= 0 {
		return fmt.Errorf("--probe-timeout %v must be positive, e.g. 1s", c.ProbeTimeout)
	}
	return nil
}

// Handler serves /healthz.
type Handler struct {
	cfg Config
}

// New checks cfg and returns the /healthz handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg}, nil
}

// Mux returns a ServeMux with the handler on /healthz, as the official
// sidecar serves it.
func (h *Handler) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	return mux
}

// ServeHTTP answers 200 "ok" when Probe succeeds and reports ready (or
// leaves ready unset, which CSI defines as ready), and 500 with the reason
// otherwise. Each request makes a fresh connection, so a driver that
// restarted is seen at once rather than after gRPC's reconnect backoff.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.Check(r.Context()); err != nil {
		klog.ErrorS(err, "Health check failed")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	klog.V(5).InfoS("Health check succeeded")
	w.Write([]byte("ok"))
}

// ErrNotReady is returned when the driver answered Probe with ready=false.
var ErrNotReady = errors.New("driver responded but is not ready")

// Check calls the driver's Probe once.
func (h *Handler) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ProbeTimeout)
	defer cancel()
	conn, err := csiconn.Dial(h.cfg.CSIAddress)
	if err != nil {
		return err
	}
	defer conn.Close()
	klog.V(5).InfoS("Sending probe request to CSI driver", "address", h.cfg.CSIAddress)
	resp, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return fmt.Errorf("probe of CSI driver at %s failed: %w", h.cfg.CSIAddress, err)
	}
	if r := resp.GetReady(); r != nil && !r.GetValue() {
		return ErrNotReady
	}
	return nil
}
