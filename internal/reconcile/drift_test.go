package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// Drift arrives from the watch: every test here sets the interval to an hour, so
// nothing but a watch event can make the controller look again.

// scale changes a Deployment's replicas through the scale subresource, as
// `kubectl scale` (or an autoscaler) does, under the given field manager.
func (f *repoFixture) scale(t *testing.T, name string, replicas int32, manager string) {
	t.Helper()
	cs := testenv.Clientset(t)
	_, err := cs.AppsV1().Deployments(f.ns).UpdateScale(testenv.Context(t), name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}},
		metav1.UpdateOptions{FieldManager: manager})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *repoFixture) replicas(t *testing.T, name string) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func (f *repoFixture) waitReplicas(t *testing.T, name string, want int32, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("Deployment %s has %d replicas", name, want), func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, d); err != nil {
			return false, err
		}
		return *d.Spec.Replicas == want, fmt.Errorf("replicas %d", *d.Spec.Replicas)
	})
}

func selfHeal(app *v1.Application) { app.Spec.Sync.SelfHeal = true }

func TestSelfHealRevertsDriftAndRecreatesDeletedObjects(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info"), "app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", selfHeal))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	f.scale(t, "web", 5, "kubectl-scale")
	f.waitReplicas(t, "web", 1, 10*time.Second)
	// The revert is applied before its status is written: wait for the history
	// entry, not only for the replicas.
	eventually(t, 10*time.Second, "a history entry for the revert", func(ctx context.Context) (bool, error) {
		app := f.get(t, "web")
		h := app.Status.History[0]
		return h.Trigger == v1.TriggerDrift, fmt.Errorf("newest history entry %+v", h)
	})
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if h := app.Status.History[0]; h.Trigger != v1.TriggerDrift || h.Updated != 1 || h.Revision != rev {
		t.Errorf("newest history entry after the revert: %+v", h)
	}
	eventually(t, 10*time.Second, "a DriftReverted event naming the field and kubectl-scale", func(ctx context.Context) (bool, error) {
		return hasEvent(ctx, f, "web", v1.ReasonDriftReverted, "spec.replicas", "kubectl-scale")
	})

	// Editing a managed field with another manager is drift too.
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["GREETING"] = "edited by hand"
	if err := f.c.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the ConfigMap edit reverted", func(ctx context.Context) (bool, error) {
		got := &corev1.ConfigMap{}
		err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, got)
		return err == nil && got.Data["GREETING"] == "hello", err
	})

	// A deleted object is recreated.
	if err := f.c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: f.ns}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the deleted ConfigMap recreated", func(ctx context.Context) (bool, error) {
		got := &corev1.ConfigMap{}
		err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, got)
		return err == nil && got.Data["GREETING"] == "hello", err
	})
}

func TestDriftWithoutSelfHealIsReportedNotReverted(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info")})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	f.scale(t, "web", 4, "kubectl-scale")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonDriftDetected, rev)
	if app.Status.Sync.Status != v1.OutOfSync {
		t.Errorf("sync status %s, want OutOfSync", app.Status.Sync.Status)
	}
	var drifted *v1.ResourceStatus
	for i, r := range app.Status.Resources {
		if r.Kind == "Deployment" {
			drifted = &app.Status.Resources[i]
		}
	}
	if drifted == nil || drifted.Action != v1.Action("Update") || strings.Join(drifted.ChangedFields, ",") != "spec.replicas" ||
		drifted.DriftedBy == nil || drifted.DriftedBy.Manager != "kubectl-scale" || drifted.DriftedBy.Subresource != "scale" {
		t.Errorf("drifted resource %+v (driftedBy %+v)", drifted, drifted.DriftedBy)
	}
	ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
	if !strings.Contains(ready.Message, "Deployment.apps/"+f.ns+"/web changed (spec.replicas) by kubectl-scale") || !strings.Contains(ready.Message, "selfHeal") {
		t.Errorf("Ready message %q", ready.Message)
	}
	if got := f.replicas(t, "web"); got != 4 {
		t.Errorf("replicas = %d: drift was reverted without selfHeal", got)
	}
	eventually(t, 10*time.Second, "a DriftDetected event", func(ctx context.Context) (bool, error) {
		return hasEvent(ctx, f, "web", v1.ReasonDriftDetected, "spec.replicas", "kubectl-scale")
	})

	// A new commit is applied as usual, which puts the cluster back in line with Git.
	next := f.commit(t, "next", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.1", "info")})
	f.refresh(t, "web")
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, next)
	if got := f.replicas(t, "web"); got != 1 {
		t.Errorf("replicas = %d after syncing a new commit, want Git's 1", got)
	}
}

func TestFieldsLockstepDoesNotManageAreNotDrift(t *testing.T) {
	f := newRepo(t)
	// No replicas in Git: an autoscaler owns them.
	manifest := strings.Replace(deploymentYAML("registry.internal/web:1.0", "info"), "  replicas: 1\n", "", 1)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": manifest})
	f.create(t, f.application("web", "app", selfHeal))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	f.scale(t, "web", 6, "horizontal-pod-autoscaler")
	time.Sleep(3 * time.Second) // a revert would come within a second or two
	if got := f.replicas(t, "web"); got != 6 {
		t.Errorf("replicas = %d: Lockstep fought the autoscaler over a field Git does not set", got)
	}
	app := f.get(t, "web")
	if !meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReady) || app.Status.Sync.Status != v1.Synced || len(app.Status.History) != 1 {
		t.Errorf("status after an autoscaler write: sync %s, history %d, conditions %+v", app.Status.Sync.Status, len(app.Status.History), app.Status.Conditions)
	}
}

func TestIgnoreDifferencesLeavesFieldsToTheCluster(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info")})
	f.create(t, f.application("web", "app", func(app *v1.Application) {
		selfHeal(app)
		app.Spec.Sync.IgnoreDifferences = []v1.IgnoreDifference{{Group: "apps", Kind: "Deployment", Name: "web", JSONPointers: []string{"/spec/replicas"}}}
	}))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if got := f.replicas(t, "web"); got != 1 {
		t.Fatalf("replicas = %d at creation, want Git's 1", got)
	}

	f.scale(t, "web", 3, "kubectl-scale")
	time.Sleep(3 * time.Second)
	if got := f.replicas(t, "web"); got != 3 {
		t.Errorf("replicas = %d: an ignored field was reverted", got)
	}

	// A new image is applied; the ignored replicas stay as the cluster has them.
	next := f.commit(t, "image", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:2.0", "info")})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, next)
	if got := f.replicas(t, "web"); got != 3 {
		t.Errorf("replicas = %d after syncing a new image, want the cluster's 3", got)
	}
	for _, r := range app.Status.Resources {
		for _, field := range r.ChangedFields {
			if field == "spec.replicas" {
				t.Errorf("%s reported as changing spec.replicas", r.Name)
			}
		}
	}
}

func TestInvalidIgnorePointerIsRejected(t *testing.T) {
	f := newRepo(t)
	app := f.application("web", "app", func(app *v1.Application) {
		app.Spec.Sync.IgnoreDifferences = []v1.IgnoreDifference{{Kind: "Deployment", JSONPointers: []string{"spec/replicas"}}}
	})
	err := f.c.Create(testenv.Context(t), app)
	if err == nil || !strings.Contains(err.Error(), "starts with /") {
		t.Errorf("a pointer without a leading / was accepted or the error is unclear: %v", err)
	}
}

func hasEvent(ctx context.Context, f *repoFixture, app, reason string, contains ...string) (bool, error) {
	list := &eventsv1.EventList{}
	if err := f.c.List(ctx, list, client.InNamespace(f.ns)); err != nil {
		return false, err
	}
	var seen []string
	for _, e := range list.Items {
		if e.Regarding.Kind != "Application" || e.Regarding.Name != app {
			continue
		}
		msg := e.Note
		seen = append(seen, e.Reason+": "+msg)
		if e.Reason != reason {
			continue
		}
		ok := true
		for _, c := range contains {
			ok = ok && strings.Contains(msg, c)
		}
		if ok {
			return true, nil
		}
	}
	return false, fmt.Errorf("events: %q", seen)
}
