package secretsynccontroller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are upstream's exporter's: secrets_store_sync_controller_reconcile_total,
// _reconcile_errors_total{ErrorType} (the condition reason) and
// _reconcile_duration_seconds.
type Metrics struct {
	total    prometheus.Counter
	errors   *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		total: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secrets_store_sync_controller_reconcile_total",
			Help: "Total number of successful reconciliations",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secrets_store_sync_controller_reconcile_errors_total",
			Help: "Total number of reconciliation errors",
		}, []string{"ErrorType"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "secrets_store_sync_controller_reconcile_duration_seconds",
			Help:    "The duration of the reconciliation loop",
			Buckets: prometheus.ExponentialBucketsRange(0.1, 2, 11),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.total, m.errors, m.duration)
	}
	return m
}

// observe counts one reconcile; errorType is empty on success.
func (m *Metrics) observe(errorType string, d time.Duration) {
	if m == nil {
		return
	}
	m.duration.Observe(d.Seconds())
	if errorType == "" {
		m.total.Inc()
		return
	}
	m.errors.WithLabelValues(errorType).Inc()
}
