package notify

import "github.com/prometheus/client_golang/prometheus"

// The metrics of delivery, by receiver ("notification": the Dispatcher's
// receiver name, a Notification's namespace/name): a series per
// Notification at most, dropped when the Dispatcher forgets it. Package
// controller registers them (Metrics) with the metrics it serves.
var (
	notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_notifications_total",
		Help: "Notification messages by receiver and result: delivered; failed (given up on: refused, or out of tries); dropped (the receiver's queue was full, or Lockstep was stopping); retried (counted once per try that failed and is tried again).",
	}, []string{"notification", "result"})
	deliverySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lockstep_notification_delivery_duration_seconds",
		Help:    "Time from a message's first try to its delivery or to giving up on it, retries and waits between them included, by receiver.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"notification"})
)

// Metrics returns the collectors of the notification metrics, for the
// controller to register.
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{notifications, deliverySeconds}
}

// forgetMetrics drops a receiver's series.
func forgetMetrics(receiver string) {
	notifications.DeletePartialMatch(prometheus.Labels{"notification": receiver})
	deliverySeconds.DeletePartialMatch(prometheus.Labels{"notification": receiver})
}
