package reconcile_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// The metrics the controller serves follow an Application: lockstep_app_info
// from the watch cache, its sync counted as the ledger records it, its
// reconciles, fetches and renders timed; and its series go when it is deleted.
func TestMetricsFollowAnApplication(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "First", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	repo := reconcile.RepositoryLabel(f.application("web", "app", nil).Spec.Source.Git.URL)
	app := map[string]string{"namespace": f.ns, "name": "web"}
	info := union(app, map[string]string{"project": v1.DefaultProject, "autosync_enabled": "true", "repo": repo,
		"dest_server": v1.InCluster, "dest_namespace": f.ns, "sync_status": string(v1.Synced), "health_status": "Healthy"})
	// The cache may show the status a moment after the status write.
	eventually(t, 10*time.Second, "lockstep_app_info shows the Application Synced and Healthy", func(context.Context) (bool, error) {
		got := gathered(t, "lockstep_app_info", info)
		return got == 1, fmt.Errorf("lockstep_app_info%v = %v", info, got)
	})
	for _, c := range []struct {
		metric string
		labels map[string]string
	}{
		{"lockstep_app_sync_total", union(app, map[string]string{"project": v1.DefaultProject, "dest_server": v1.InCluster, "phase": "Succeeded"})},
		{"lockstep_app_reconcile", map[string]string{"namespace": f.ns, "dest_server": v1.InCluster}},
		{"lockstep_git_fetch_total", map[string]string{"repo": repo, "result": "fetched"}},
		{"lockstep_render_duration_seconds", map[string]string{"renderer": "Plain", "result": "succeeded"}},
	} {
		if got := gathered(t, c.metric, c.labels); got < 1 {
			t.Errorf("%s%v = %v, want at least 1", c.metric, c.labels, got)
		}
	}

	if err := f.c.Delete(testenv.Context(t), f.get(t, "web")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the deleted Application's series are gone", func(context.Context) (bool, error) {
		infos, syncs := gathered(t, "lockstep_app_info", app), gathered(t, "lockstep_app_sync_total", app)
		return infos == 0 && syncs == 0, fmt.Errorf("lockstep_app_info: %v, lockstep_app_sync_total: %v", infos, syncs)
	})
}

// gathered sums, over the series of metric in the controller's registry whose
// labels include labels, their values (a histogram's: its count).
func gathered(t *testing.T, metric string, labels map[string]string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// union is a's labels and b's.
func union(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
