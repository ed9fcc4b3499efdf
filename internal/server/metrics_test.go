package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Instrument counts and times requests under the route's pattern, whatever
// the path and method asked; a stream can still flush through it.
func TestInstrument(t *testing.T) {
	const route = "/api/v1/metrics-test/{namespace}/{name}"
	var flushes bool
	h := Instrument(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, flushes = w.(http.Flusher)
		if r.Method == http.MethodGet {
			http.NotFound(w, r)
		}
	}))
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/api/v1/metrics-test/team/web", nil),
		httptest.NewRequest(http.MethodGet, "/api/v1/metrics-test/team/"+strings.Repeat("x", 200), nil),
		httptest.NewRequest(http.MethodPost, "/api/v1/metrics-test/team/web", nil),
		httptest.NewRequest("BREW", "/api/v1/metrics-test/team/web", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if !flushes {
		t.Error("the instrumented ResponseWriter is not an http.Flusher: server-sent events would stall")
	}
	for _, c := range []struct {
		method, code string
		want         float64
	}{{"get", "404", 2}, {"post", "200", 1}, {"unknown", "200", 1}} {
		if got := testutil.ToFloat64(apiRequests.WithLabelValues(route, c.method, c.code)); got != c.want {
			t.Errorf("lockstep_api_requests_total{method=%q,code=%q} = %v, want %v", c.method, c.code, got, c.want)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Metrics()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() != route && strings.HasPrefix(l.GetValue(), "/api/v1/metrics-test/") {
					t.Errorf("%s has a series for the path %s", f.GetName(), l.GetValue())
				}
			}
			if f.GetName() == "lockstep_api_request_duration_seconds" && m.GetHistogram().GetSampleCount() == 0 {
				t.Errorf("%s has a series with no observation: %v", f.GetName(), m.GetLabel())
			}
		}
	}
}
