package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func dependsOn(names ...string) func(*v1.Application) {
	return func(app *v1.Application) {
		for _, n := range names {
			app.Spec.DependsOn = append(app.Spec.DependsOn, v1.LocalObjectReference{Name: n})
		}
	}
}

func TestDependsOnWaitsAndStartsTheMomentTheDependencyIsReady(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "two apps", map[string]string{
		"db/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata: {ready: \"yes\"}\n",
		"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {db: db}\n",
	})
	// The interval is an hour: only the dependency's readiness can start web.
	f.create(t, f.application("web", "web", dependsOn("db")))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonDependencyWait, "")
	if msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message; !strings.Contains(msg, "Application db, which does not exist") {
		t.Errorf("Ready message %q", msg)
	}
	if app.Status.LastAttemptedRevision != nil {
		t.Errorf("web fetched %s before its dependency was Ready", app.Status.LastAttemptedRevision.Commit)
	}

	f.create(t, f.application("db", "db", nil))
	db := f.waitFor(t, "db", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	web := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	dbReady := meta.FindStatusCondition(db.Status.Conditions, v1.ConditionReady).LastTransitionTime.Time
	webSynced := web.Status.History[0].StartedAt.Time
	if webSynced.Before(dbReady) {
		t.Errorf("web synced at %s, before db was Ready at %s", webSynced, dbReady)
	}
	if gap := webSynced.Sub(dbReady); gap > 5*time.Second {
		t.Errorf("web started %s after db turned Ready; want at once", gap)
	}
}

func TestDependencyCycleIsReported(t *testing.T) {
	f := newRepo(t)
	f.commit(t, "apps", map[string]string{"a/cm.yaml": configMapYAML})
	f.create(t, f.application("a", "a", dependsOn("b")))
	f.create(t, f.application("b", "b", dependsOn("a")))
	app := f.waitFor(t, "a", metav1.ConditionFalse, v1.ReasonInvalidSpec, "")
	msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message
	if !strings.Contains(msg, "cycle: a → b → a") || !meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
		t.Errorf("Ready message %q, conditions %+v", msg, app.Status.Conditions)
	}
}

func TestSelfDependencyIsRejected(t *testing.T) {
	f := newRepo(t)
	err := f.c.Create(testenv.Context(t), f.application("a", "a", dependsOn("a")))
	if err == nil || !strings.Contains(err.Error(), "cannot depend on itself") {
		t.Errorf("a self-dependency was accepted or the error is unclear: %v", err)
	}
}

func TestTwoApplicationsCannotManageOneObject(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "same object twice", map[string]string{"one/cm.yaml": configMapYAML, "two/cm.yaml": configMapYAML})
	f.create(t, f.application("one", "one", nil))
	f.waitFor(t, "one", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	f.create(t, f.application("two", "two", nil))
	app := f.waitFor(t, "two", metav1.ConditionFalse, v1.ReasonPlanFailed, rev)
	msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message
	if !strings.Contains(msg, "ConfigMap/"+f.ns+"/settings is managed by Application "+f.ns+"/one") {
		t.Errorf("Ready message %q", msg)
	}
	// Moving the object: once "one" no longer holds it, "two" takes it over.
	moved := f.commit(t, "move settings to two", map[string]string{"one/cm.yaml": "", "one/other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n"})
	f.refresh(t, "one")
	f.waitFor(t, "one", metav1.ConditionTrue, v1.ReasonSucceeded, moved)
	f.refresh(t, "two")
	f.waitFor(t, "two", metav1.ConditionTrue, v1.ReasonSucceeded, moved)
}
