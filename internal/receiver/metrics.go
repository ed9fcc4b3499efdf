package receiver

import (
	"github.com/prometheus/client_golang/prometheus"
)

var webhookRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "lockstep_webhook_requests_total",
	Help: "Webhook requests by Receiver (namespace/name; empty for a path no Receiver has) and result: accepted, ignored (not a push), or why it was refused.",
}, []string{"receiver", "result"})

// Metrics are the receiver's metrics, for the controller to serve.
func Metrics() []prometheus.Collector { return []prometheus.Collector{webhookRequests} }

func observe(receiver, result string) { webhookRequests.WithLabelValues(receiver, result).Inc() }
