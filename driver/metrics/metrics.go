// Package metrics defines every metric of the Secrets Store CSI driver, with
// the names and labels the AKS documentation lists, registered once per
// process on a registry the caller owns. Every metric here is recorded by
// some code path (upstream registers sync metrics it never records).
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, exactly as the AKS documentation lists them.
const (
	NodePublish               = "total_node_publish"
	NodeUnpublish             = "total_node_unpublish"
	NodePublishError          = "total_node_publish_error"
	NodeUnpublishError        = "total_node_unpublish_error"
	SyncK8sSecret             = "total_sync_k8s_secret"
	SyncK8sSecretDuration     = "sync_k8s_secret_duration_sec"
	RotationReconcile         = "total_rotation_reconcile"
	RotationReconcileError    = "total_rotation_reconcile_error"
	RotationReconcileDuration = "rotation_reconcile_duration_sec"
	// kvcsi additions.
	ReservedAttributeDropped    = "total_reserved_attribute_dropped"
	ProviderWarnings            = "total_provider_warnings"
	SyncK8sSecretConflict       = "total_sync_k8s_secret_conflict"
	labelSource                 = "source"
	labelOSType, labelProvider  = "os_type", "provider"
	labelErrorType, labelRotate = "error_type", "rotated"
)

// Buckets are the upstream histogram buckets: 0.1 s to about 2 s, exponential.
var Buckets = prometheus.ExponentialBucketsRange(0.1, 2.0, 11)

// Recorder records the driver's metrics. A nil *Recorder records nothing,
// so packages can be used without metrics in tests.
type Recorder struct {
	reg *prometheus.Registry

	nodePublish        *prometheus.CounterVec
	nodeUnpublish      *prometheus.CounterVec
	nodePublishErr     *prometheus.CounterVec
	nodeUnpublishErr   *prometheus.CounterVec
	syncSecret         *prometheus.CounterVec
	syncSecretDuration *prometheus.HistogramVec
	rotation           *prometheus.CounterVec
	rotationErr        *prometheus.CounterVec
	rotationDuration   *prometheus.HistogramVec
	reservedDropped    *prometheus.CounterVec
	providerWarnings   *prometheus.CounterVec
	syncConflict       *prometheus.CounterVec
}

// New creates a Recorder with its own registry, holding the driver metrics
// plus the Go runtime and process collectors.
func New() *Recorder {
	r := &Recorder{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: Buckets}, labels)
		r.reg.MustRegister(h)
		return h
	}
	r.nodePublish = counter(NodePublish, "The total number of successful volume mount requests.", labelOSType, labelProvider)
	r.nodeUnpublish = counter(NodeUnpublish, "The total number of successful volume unmount requests.", labelOSType)
	r.nodePublishErr = counter(NodePublishError, "The total number of errors with volume mount requests.", labelOSType, labelProvider, labelErrorType)
	r.nodeUnpublishErr = counter(NodeUnpublishError, "The total number of errors with volume unmount requests.", labelOSType)
	r.syncSecret = counter(SyncK8sSecret, "The total number of Kubernetes secrets synced.", labelOSType, labelProvider)
	r.syncSecretDuration = histogram(SyncK8sSecretDuration, "The distribution of how long it took to sync the Kubernetes secret.", labelOSType)
	r.rotation = counter(RotationReconcile, "The total number of rotation reconciles.", labelOSType, labelRotate)
	r.rotationErr = counter(RotationReconcileError, "The total number of rotation reconciles with error.", labelOSType, labelRotate, labelErrorType)
	r.rotationDuration = histogram(RotationReconcileDuration, "The distribution of how long it took to rotate secrets-store content for pods.", labelOSType)
	r.reservedDropped = counter(ReservedAttributeDropped, "The total number of csi.storage.k8s.io/ keys dropped from SecretProviderClass parameters (source spec.parameters) or pod volumeAttributes (source volumeAttributes).", labelOSType, labelSource)
	r.providerWarnings = counter(ProviderWarnings, "The total number of warnings providers returned in MountResponse.warnings.", labelOSType, labelProvider)
	r.syncConflict = counter(SyncK8sSecretConflict, "The total number of synced-Secret writes that met a concurrent writer (another pod created the Secret first) and were resolved by re-reading.", labelOSType)
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registry returns the registry, for tests that gather values.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// osType is the os_type label value: the OS the driver runs on.
var osType = runtime.GOOS

// ErrorType turns an error code into a bounded error_type label value. It
// never carries free text, so no secret can leak into a label.
func ErrorType(code string) string {
	if code == "" {
		return "Unknown"
	}
	return code
}

// NodePublishOK records a successful NodePublishVolume.
func (r *Recorder) NodePublishOK(provider string) {
	if r == nil {
		return
	}
	r.nodePublish.WithLabelValues(osType, provider).Inc()
}

// NodePublishFailed records a failed NodePublishVolume; errorType is a code
// such as a gRPC code name or the provider's error code.
func (r *Recorder) NodePublishFailed(provider, errorType string) {
	if r == nil {
		return
	}
	r.nodePublishErr.WithLabelValues(osType, provider, ErrorType(errorType)).Inc()
}

// NodeUnpublishOK records a successful NodeUnpublishVolume.
func (r *Recorder) NodeUnpublishOK() {
	if r == nil {
		return
	}
	r.nodeUnpublish.WithLabelValues(osType).Inc()
}

// NodeUnpublishFailed records a failed NodeUnpublishVolume.
func (r *Recorder) NodeUnpublishFailed() {
	if r == nil {
		return
	}
	r.nodeUnpublishErr.WithLabelValues(osType).Inc()
}

// SecretSynced records one Kubernetes Secret synced and how long it took.
func (r *Recorder) SecretSynced(provider string, took time.Duration) {
	if r == nil {
		return
	}
	r.syncSecret.WithLabelValues(osType, provider).Inc()
	r.syncSecretDuration.WithLabelValues(osType).Observe(took.Seconds())
}

// RotationReconciled records one rotation reconcile of one mount and how
// long it took; rotated says whether the content changed.
func (r *Recorder) RotationReconciled(rotated bool, took time.Duration) {
	if r == nil {
		return
	}
	r.rotation.WithLabelValues(osType, strconv.FormatBool(rotated)).Inc()
	r.rotationDuration.WithLabelValues(osType).Observe(took.Seconds())
}

// RotationFailed records a rotation reconcile that failed.
func (r *Recorder) RotationFailed(rotated bool, errorType string) {
	if r == nil {
		return
	}
	r.rotationErr.WithLabelValues(osType, strconv.FormatBool(rotated), ErrorType(errorType)).Inc()
}

// ReservedAttributeDropped records a csi.storage.k8s.io/ key the driver did
// not pass to the provider; source is driver.SourceParameters or
// driver.SourceVolumeAttributes (bounded: never the key itself).
func (r *Recorder) ReservedAttributeDropped(source string) {
	if r == nil {
		return
	}
	r.reservedDropped.WithLabelValues(osType, source).Inc()
}

// ProviderWarning records one warning a provider returned with a mount.
func (r *Recorder) ProviderWarning(provider string) {
	if r == nil {
		return
	}
	r.providerWarnings.WithLabelValues(osType, provider).Inc()
}

// SecretSyncConflict records a synced-Secret write that met a concurrent writer and was resolved.
func (r *Recorder) SecretSyncConflict() {
	if r == nil {
		return
	}
	r.syncConflict.WithLabelValues(osType).Inc()
}
