package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// The journal counts what it wrote: syncs by phase (a denial is its own
// phase), drifts by outcome; records of other Applications in the same batch
// under their own labels. The shared controller of this package observes into
// the same counters: each check reads one series of Applications it never sees.
func TestTheJournalCountsSyncsAndDriftsItWrote(t *testing.T) {
	j, _ := testJournal(t)
	app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-unit", Name: "web", ResourceVersion: "1"}}
	rec := func(event audit.Event, result audit.Result, application string) audit.Record {
		return audit.Record{Event: event, Result: result, Application: application, Project: "payments", Cluster: v1.InCluster, Actor: audit.ActorController}
	}
	if _, err := j.write(context.Background(), app, []audit.Record{
		rec(audit.EventSync, audit.Succeeded, "metrics-unit/web"),
		rec(audit.EventSync, audit.Failed, "metrics-unit/web"),
		rec(audit.EventDenied, audit.Failed, "metrics-unit/web"),
		rec(audit.EventDrift, audit.Detected, "metrics-unit/web"),
		rec(audit.EventDrift, audit.Reverted, "metrics-unit/web"),
		rec(audit.EventPrune, audit.Succeeded, "metrics-unit/web"),
		rec(audit.EventSync, audit.Succeeded, "metrics-unit/api"),
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, phase string
		want        float64
	}{{"web", "Succeeded", 1}, {"web", "Failed", 1}, {"web", "Denied", 1}, {"api", "Succeeded", 1}, {"api", "Failed", 0}} {
		if got := testutil.ToFloat64(appSyncs.WithLabelValues("metrics-unit", c.name, "payments", v1.InCluster, c.phase)); got != c.want {
			t.Errorf("lockstep_app_sync_total{name=%q,phase=%q} = %v, want %v", c.name, c.phase, got, c.want)
		}
	}
	for _, outcome := range []string{"reported", "reverted"} {
		if got := testutil.ToFloat64(appDrifts.WithLabelValues("metrics-unit", "web", "payments", outcome)); got != 1 {
			t.Errorf("lockstep_app_drift_total{outcome=%q} = %v, want 1", outcome, got)
		}
	}

	// A deleted Application's series go; another's stay.
	forgetApplication(types.NamespacedName{Namespace: "metrics-unit", Name: "web"})
	if appSyncs.DeleteLabelValues("metrics-unit", "web", "payments", v1.InCluster, "Succeeded") ||
		appDrifts.DeleteLabelValues("metrics-unit", "web", "payments", "reverted") {
		t.Error("a deleted Application's series are still there")
	}
	if !appSyncs.DeleteLabelValues("metrics-unit", "api", "payments", v1.InCluster, "Succeeded") {
		t.Error("forgetting an Application dropped another's series")
	}
}

// A look at a repository is fetched, reused or failed, under the URL without
// credentials; only looks that asked the server are timed.
func TestObserveFetch(t *testing.T) {
	const url = "https://robot:secret@git.internal/metrics-unit/fetch.git?token=x#frag"
	const label = "https://git.internal/metrics-unit/fetch.git"
	started := time.Now()
	before := sampleCount(t, gitFetchSeconds, nil)
	observeFetch(url, started, &source.Snapshot{Resolved: started.Add(-time.Second)}, nil)
	observeFetch(url, started, &source.Snapshot{Resolved: started.Add(time.Millisecond)}, nil)
	observeFetch(url, started, nil, errors.New("connection refused"))
	observeFetch(url, started, nil, errors.New("connection refused"))
	for result, want := range map[string]float64{"reused": 1, "fetched": 1, "failed": 2} {
		if got := testutil.ToFloat64(gitFetches.WithLabelValues(label, result)); got != want {
			t.Errorf("lockstep_git_fetch_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	// The shared controller may time its own fetches meanwhile: at least ours.
	if got := sampleCount(t, gitFetchSeconds, nil) - before; got < 3 {
		t.Errorf("%d looks timed, want the 3 that asked the server", got)
	}
}

// sampleCount is how many observations c's histograms with the given labels hold.
func sampleCount(t *testing.T, c prometheus.Collector, labels map[string]string) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func TestRepositoryLabel(t *testing.T) {
	for in, want := range map[string]string{
		"https://git.internal/team/app.git":                 "https://git.internal/team/app.git",
		"https://user:password@git.internal/team/app.git":   "https://git.internal/team/app.git",
		"ssh://git@git.internal:2222/team/app.git":          "ssh://git.internal:2222/team/app.git",
		"https://git.internal/team/app.git?private_token=x": "https://git.internal/team/app.git",
		"git@git.internal:team/app.git":                     "invalid",
		"https://git.internal/%zz":                          "invalid",
	} {
		if got := RepositoryLabel(in); got != want {
			t.Errorf("RepositoryLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// A render is timed under its renderer; a failed one under Unknown.
func TestMeasuredRender(t *testing.T) {
	fsys := fstest.MapFS{"app/cm.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")}}
	failing := func(context.Context, fs.FS, string, render.Options) (*render.Result, error) {
		return nil, errors.New("boom")
	}
	count := func(renderer, result string) uint64 {
		return sampleCount(t, renderSeconds, map[string]string{"renderer": renderer, "result": result})
	}
	plain, unknown := count("Plain", "succeeded"), count("Unknown", "failed")
	if res, err := MeasuredRender(engine.Render)(context.Background(), fsys, "app", render.Options{}); err != nil || len(res.Objects) != 1 {
		t.Fatalf("render through MeasuredRender: %v, %+v", err, res)
	}
	if _, err := MeasuredRender(failing)(context.Background(), fsys, "app", render.Options{}); err == nil {
		t.Fatal("the failure was lost")
	}
	if got := count("Plain", "succeeded") - plain; got < 1 {
		t.Errorf("Plain renders timed: %d more, want at least 1", got)
	}
	if got := count("Unknown", "failed") - unknown; got < 1 {
		t.Errorf("failed renders timed: %d more, want at least 1", got)
	}
}
