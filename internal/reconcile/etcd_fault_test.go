package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

// etcd stalls (SIGSTOP) for 30 s while a commit waits to be applied: the
// API server can store nothing, so nothing is half-applied or lost; once
// etcd runs again, the commit is applied, once, and the Application says so.
func TestEtcdPausedFor30Seconds(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	// A short interval: the controller keeps making passes while etcd is
	// stopped, and each must wait or fail without harm.
	f.create(t, f.application("web", "app", func(a *v1.Application) { a.Spec.Sync.Interval = &metav1.Duration{Duration: 10 * time.Second} }))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	second := f.commit(t, "second", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "hello again", 1)})
	cp := testenv.ControlPlane(t)
	if err := cp.Pause(kubebin.Etcd); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := cp.Resume(kubebin.Etcd); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer resume()
	// The refresh itself is a write: it waits for etcd like everything else.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(testenv.Context(t)), 2*time.Minute)
		defer cancel()
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1.AnnotationReconcileRequestedAt, time.Now().Format(time.RFC3339Nano))
		app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns}}
		_ = f.c.Patch(ctx, app, client.RawPatch(types.MergePatchType, []byte(patch)))
	}()
	time.Sleep(30 * time.Second)
	resume()
	t.Logf("etcd paused for %s", time.Since(paused).Round(time.Second))

	back := time.Now()
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	t.Logf("the commit pushed during the pause applied %s after etcd resumed", time.Since(back).Round(time.Millisecond))
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil || cm.Data["GREETING"] != "hello again" {
		t.Errorf("the ConfigMap after the pause: %v, %v", cm.Data, err)
	}
	if app.Status.LastAppliedRevision.Commit != second {
		t.Errorf("applied %+v", app.Status.LastAppliedRevision)
	}
	ok := 0
	for _, r := range f.records(t, "web", audit.EventSync) {
		if r.Revision == second && r.Result == audit.Succeeded {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d successful Sync records of the commit, want exactly 1: %s", ok, describe(f.records(t, "web", audit.EventSync)))
	}
}
