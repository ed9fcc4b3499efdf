package reconcile

import (
	"context"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// The metrics a reconcile observes, named after Argo CD's where one exists
// (docs/metrics.md maps them), so alerts and dashboards port by renaming.
// Package controller registers them (Metrics) with the metrics served on
// --metrics-address. Labels name Applications, never objects or commits: a
// series per Application at most, and a deleted Application's are dropped
// (forgetApplication).
var (
	ledgerWriteFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lockstep_ledger_write_failures_total",
		Help: "Writes the audit ledger refused (a full disk, its database down); nothing is applied while it refuses.",
	})
	ledgerBacklog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lockstep_ledger_backlog_records",
		Help: "Ledger records the controller holds because the ledger refused them; written first when it takes records again.",
	})
	ledgerAppendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lockstep_ledger_append_seconds",
		Help:    "Time a reconcile pass waits for its audit records to be written (including the group-commit queue).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
	})
	ledgerRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_ledger_records_total",
		Help: "Audit records written, by event.",
	}, []string{"event"})

	appSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_app_sync_total",
		Help: "Syncs recorded in the ledger, by Application and phase (Succeeded, Failed, or Denied by a policy or verification); a failure is counted when it is new, not on every retry.",
	}, []string{"namespace", "name", "project", "dest_server", "phase"})
	appDrifts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_app_drift_total",
		Help: "Drift recorded in the ledger, by Application and outcome (reverted by self-heal, or reported and left).",
	}, []string{"namespace", "name", "project", "outcome"})
	appReconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lockstep_app_reconcile",
		Help:    "Time one reconcile of an Application takes, in seconds (a sync that waits on the cluster runs in the background and is not included).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64},
	}, []string{"namespace", "dest_server"})
	gitFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockstep_git_fetch_total",
		Help: "Looks at a repository, by repository and result: fetched (the server was asked), reused (a recent resolution answered) or failed.",
	}, []string{"repo", "result"})
	gitFetchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lockstep_git_fetch_duration_seconds",
		Help:    "Time a look at a repository that asked its server takes (resolving the ref and fetching what is new), failed ones included.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128},
	})
	renderSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lockstep_render_duration_seconds",
		Help:    "Time a render takes (renders answered from the render cache are not counted), by renderer and result; a failed render's renderer is Unknown.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32},
	}, []string{"renderer", "result"})
)

// Metrics returns the collectors of the metrics reconciles observe, for the
// controller to register.
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{ledgerWriteFailures, ledgerBacklog, ledgerAppendSeconds, ledgerRecords, appSyncs, appDrifts, appReconcileSeconds,
		gitFetches, gitFetchSeconds, renderSeconds}
}

// Phases of lockstep_app_sync_total and outcomes of lockstep_app_drift_total.
const (
	phaseDenied     = "Denied"
	outcomeReverted = "reverted"
	outcomeReported = "reported"
)

// countRecords counts the syncs and drifts among records just written to the
// ledger: the ledger decides what is a new sync or drift (a retry of the same
// failure is not), so the counters agree with `lockstep history`.
func countRecords(written []audit.Record) {
	for _, r := range written {
		ledgerRecords.WithLabelValues(string(r.Event)).Inc()
		ns, name, _ := strings.Cut(r.Application, "/")
		switch r.Event {
		case audit.EventSync:
			appSyncs.WithLabelValues(ns, name, r.Project, r.Cluster, string(r.Result)).Inc()
		case audit.EventDenied:
			appSyncs.WithLabelValues(ns, name, r.Project, r.Cluster, phaseDenied).Inc()
		case audit.EventDrift:
			outcome := outcomeReported
			if r.Result == audit.Reverted {
				outcome = outcomeReverted
			}
			appDrifts.WithLabelValues(ns, name, r.Project, outcome).Inc()
		}
	}
}

// observeReconcile records how long a reconcile of app that started at
// started took.
func observeReconcile(app *v1.Application, started time.Time) {
	appReconcileSeconds.WithLabelValues(app.Namespace, DestinationLabel(app)).Observe(time.Since(started).Seconds())
}

// forgetApplication drops a deleted Application's series.
func forgetApplication(key types.NamespacedName) {
	match := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	appSyncs.DeletePartialMatch(match)
	appDrifts.DeletePartialMatch(match)
}

// Results of lockstep_git_fetch_total.
const (
	fetchFetched = "fetched"
	fetchReused  = "reused"
	fetchFailed  = "failed"
)

// observeFetch records a look at the repository at rawURL that started at
// started: snap was resolved then (fetched) or earlier (reused), or err.
func observeFetch(rawURL string, started time.Time, snap *source.Snapshot, err error) {
	result := fetchFetched
	switch {
	case err != nil:
		result = fetchFailed
	case snap.Resolved.Before(started):
		result = fetchReused
	}
	gitFetches.WithLabelValues(RepositoryLabel(rawURL), result).Inc()
	if result != fetchReused {
		gitFetchSeconds.Observe(time.Since(started).Seconds())
	}
}

// MeasuredRender returns fn that also records each render's duration in
// lockstep_render_duration_seconds. Wrap the function the render cache
// calls, so that answers from the cache are not counted.
func MeasuredRender(fn render.Func) render.Func {
	return func(ctx context.Context, fsys fs.FS, dir string, opts render.Options) (*render.Result, error) {
		started := time.Now()
		res, err := fn(ctx, fsys, dir, opts)
		renderer, result := "Unknown", "failed"
		if err == nil && res != nil {
			renderer, result = string(res.Renderer), "succeeded"
		}
		renderSeconds.WithLabelValues(renderer, result).Observe(time.Since(started).Seconds())
		return res, err
	}
}

// RepositoryLabel is how metrics name a repository: its URL without user
// information, query or fragment, so that no credential written into a URL
// reaches a metric; "invalid" for a URL that does not parse.
func RepositoryLabel(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "invalid"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// DestinationLabel is the dest_server of an Application's metrics: its
// destination cluster's name (Argo CD's label holds the server's URL).
func DestinationLabel(app *v1.Application) string {
	if c := app.Spec.Destination.Cluster; c != "" {
		return c
	}
	return v1.InCluster
}
