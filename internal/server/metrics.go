package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// API request metrics. route is a route's pattern, never the path asked for,
// and method and code are the ones promhttp knows (others are "unknown"), so a
// caller cannot add series by asking for made-up paths or methods.
var (
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_api_requests_total",
		Help: "API requests answered, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	apiRequestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lockstep_api_request_duration_seconds",
		Help:    "Time the API takes to answer a request, by route pattern and method; a stream (server-sent events, followed logs) counts until it ends.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method"})
)

// Metrics returns the collectors of the API's metrics, for the controller to
// register.
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{apiRequests, apiRequestSeconds}
}

// Instrument returns h recording each request it answers in
// lockstep_api_requests_total and lockstep_api_request_duration_seconds under
// route, which must be the route's pattern (/api/v1/applications/{namespace}/{name}),
// not the request's path: one series per route, whatever is asked.
func Instrument(route string, h http.Handler) http.Handler {
	byRoute := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerCounter(apiRequests.MustCurryWith(byRoute),
		promhttp.InstrumentHandlerDuration(apiRequestSeconds.MustCurryWith(byRoute), h))
}
