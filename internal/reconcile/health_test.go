package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func waitForHealth(app *v1.Application) {
	app.Spec.Sync.Wait = true
	app.Spec.Sync.Timeout = &metav1.Duration{Duration: 8 * time.Second}
}

func TestHealthIsReportedAndWaitedFor(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info"), "app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", waitForHealth))

	// Ready only once KWOK has the pod running and the rollout is complete.
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if app.Status.Health == nil || app.Status.Health.Status != "Healthy" {
		t.Fatalf("health %+v, want Healthy", app.Status.Health)
	}
	for _, r := range app.Status.Resources {
		if r.Health != "Healthy" {
			t.Errorf("%s/%s health %q (%s)", r.Kind, r.Name, r.Health, r.HealthMessage)
		}
	}
	if meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReconciling) {
		t.Error("still Reconciling after the wait ended")
	}
}

func TestWaitFailsOnAnObjectThatNeverBecomesHealthy(t *testing.T) {
	f := newRepo(t)
	// No node matches: the pod stays Pending and the rollout never completes.
	stuck := strings.Replace(deploymentYAML("registry.internal/web:1.0", "info"), "    spec:\n", "    spec:\n      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n", 1)
	rev := f.commit(t, "stuck", map[string]string{"app/deploy.yaml": stuck})
	f.create(t, f.application("web", "app", waitForHealth))

	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonProgressing, rev)
	if !meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReconciling) {
		t.Error("waiting for health without Reconciling=True")
	}
	app = f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonHealthCheckFailed, rev)
	ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
	if !strings.Contains(ready.Message, "Deployment.apps/"+f.ns+"/web is still Progressing 8s after the apply") {
		t.Errorf("Ready message %q does not name the object and the wait", ready.Message)
	}
	if app.Status.Health.Status != "Progressing" || app.Status.Health.Object != "Deployment.apps/"+f.ns+"/web" {
		t.Errorf("health %+v", app.Status.Health)
	}
	// The apply itself succeeded: the history says so, and nothing is Stalled.
	if app.Status.History[0].Result != v1.SyncSucceeded || meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
		t.Errorf("history %+v, conditions %+v", app.Status.History[0], app.Status.Conditions)
	}
}
