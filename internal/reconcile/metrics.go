package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Ledger metrics, served with controller-runtime's on --metrics-address: how
// long a pass waits for its records to be durable, and how many were written.
var (
	ledgerAppendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lockstep_ledger_append_seconds",
		Help:    "Time a reconcile pass waits for its audit records to be written (including the group-commit queue).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
	})
	ledgerRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_ledger_records_total",
		Help: "Audit records written, by event.",
	}, []string{"event"})
)

func init() {
	metrics.Registry.MustRegister(ledgerAppendSeconds, ledgerRecords)
}
