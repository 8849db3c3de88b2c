// Package metrics records the provider's two documented histograms,
// keyvault_request and grpc_request, in seconds with upstream's buckets.
// A Recorder owns its own registry, so the histograms are registered exactly
// once per process (or per test) and never on the request path.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets are upstream's, in seconds.
var Buckets = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10, 15, 30}

// Recorder records provider metrics. The zero value is not usable; use New.
type Recorder struct {
	reg      *prometheus.Registry
	keyvault *prometheus.HistogramVec
	grpc     *prometheus.HistogramVec
	warnings *prometheus.CounterVec
}

// New creates a Recorder with its own registry.
func New() *Recorder {
	r := &Recorder{reg: prometheus.NewRegistry()}
	r.keyvault = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keyvault_request",
		Help:    "Duration of Key Vault requests, in seconds.",
		Buckets: Buckets,
	}, []string{"os_type", "provider", "object_name", "object_type", "error"})
	r.grpc = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "grpc_request",
		Help:    "Duration of gRPC requests from the driver, in seconds.",
		Buckets: Buckets,
	}, []string{"os_type", "provider", "grpc_method", "grpc_code", "grpc_message"})
	r.warnings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "secretproviderclass_warning_total",
		Help: "SecretProviderClass settings mounted as upstream does with a warning instead of refused (kvcsi extension; see docs/compatibility.md), by field.",
	}, []string{"os_type", "provider", "field"})
	r.reg.MustRegister(r.keyvault, r.grpc, r.warnings)
	return r
}

// KeyVault records one Key Vault request. reason is a short error reason
// ("" on success), never raw error text.
func (r *Recorder) KeyVault(d time.Duration, objectName, objectType, reason string) {
	if r == nil {
		return
	}
	r.keyvault.WithLabelValues(runtime.GOOS, "azure", objectName, objectType, reason).Observe(d.Seconds())
}

// GRPC records one gRPC call. message is a short reason, never raw text.
func (r *Recorder) GRPC(d time.Duration, method, code, message string) {
	if r == nil {
		return
	}
	r.grpc.WithLabelValues(runtime.GOOS, "azure", method, code, message).Observe(d.Seconds())
}

// Warning counts one SecretProviderClass warning; field is the setting's
// name (a bounded set).
func (r *Recorder) Warning(field string) {
	if r == nil {
		return
	}
	r.warnings.WithLabelValues(runtime.GOOS, "azure", field).Inc()
}

// WarningCounter is the warning counter of field, for tests.
func (r *Recorder) WarningCounter(field string) prometheus.Counter {
	return r.warnings.WithLabelValues(runtime.GOOS, "azure", field)
}

// Handler serves the registry in the Prometheus text format.
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry, for tests that gather.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }
