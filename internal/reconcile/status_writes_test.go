package reconcile_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// A converge that waits for health writes the Application's status at most
// twice: "syncing" when the sync starts, the outcome when it ends; nothing
// more while it waits or just after. Each write is an API request per
// Application: at thousands of Applications they are most of what a converge
// costs beyond the applies. (BenchmarkConverge counts the steady state's:
// none.)
func TestAWaitedConvergeWritesTheStatusTwice(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info"), "app/cm.yaml": configMapYAML})
	writes := watchStatusWrites(t, f.ns, "web")
	f.create(t, f.application("web", "app", waitForHealth))
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if app.Status.Health == nil || app.Status.Health.Status != "Healthy" {
		t.Fatalf("health %+v, want Healthy", app.Status.Health)
	}
	time.Sleep(2 * time.Second) // writes the end of the wait would bring
	got := writes()
	if len(got) == 0 {
		t.Fatal("the watch saw no status write at all")
	}
	if len(got) > 2 {
		for i, s := range got {
			ready := meta.FindStatusCondition(s.Conditions, v1.ConditionReady)
			t.Logf("write %d: sync %s, health %+v, Ready %+v", i+1, s.Sync.Status, s.Health, ready)
		}
		t.Errorf("%d status writes for one converge that waited for health, want at most 2", len(got))
	}
}

// watchStatusWrites watches the Application name in ns from now on and
// returns a function that lists the statuses written so far, in order
// (a change of status is one write; the watch sees every one).
func watchStatusWrites(t *testing.T, ns, name string) func() []v1.ApplicationStatus {
	t.Helper()
	c, err := client.NewWithWatch(testenv.Config(t), client.Options{Scheme: benchScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testenv.Context(t))
	w, err := c.Watch(ctx, &v1.ApplicationList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan []v1.ApplicationStatus, 1)
	go func() {
		var seen []v1.ApplicationStatus
		var last v1.ApplicationStatus
		defer func() { statuses <- seen }()
		for e := range w.ResultChan() {
			app, ok := e.Object.(*v1.Application)
			if !ok || app.Name != name || e.Type != watch.Modified {
				continue
			}
			if !equality.Semantic.DeepEqual(last, app.Status) {
				seen = append(seen, app.Status)
				last = app.Status
			}
		}
	}()
	t.Cleanup(cancel)
	return func() []v1.ApplicationStatus {
		w.Stop()
		cancel()
		return <-statuses
	}
}
