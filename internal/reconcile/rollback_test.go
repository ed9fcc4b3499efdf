package reconcile_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
)

// A revision that does not descend from the applied one (here an older
// commit pinned in the spec) is a rollback: recorded as one, and refused by a
// Project with rollbacks: Refuse.
func TestARevisionThatDoesNotDescendIsARollback(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	second := f.commit(t, "second", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "hello again", 1)})
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}}, Rollbacks: v1.RollbacksRefuse})
	f.create(t, f.application("web", "app", f.inProject))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)

	pin := func(commit string) {
		app := f.get(t, "web")
		app.Spec.Source.Git.Ref = v1.GitRef{Commit: commit}
		if err := f.c.Update(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	pin(first)
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonPolicyDenied, first)
	if msg := readyMessage(app); !strings.Contains(msg, "does not descend from the applied") || !strings.Contains(msg, "git revert") {
		t.Errorf("the denial does not say it is a rollback and what to do: %s", msg)
	}

	f.updateProject(t, func(s *v1.ProjectSpec) { s.Rollbacks = v1.RollbacksAllow })
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	syncs := f.waitRecords(t, "web", 2, audit.EventSync)
	if r := syncs[0]; r.Rollback {
		t.Errorf("the first sync is recorded as a rollback: %+v", r)
	}
	if r := syncs[len(syncs)-1]; !r.Rollback || r.Revision != first || r.PreviousRevision != second {
		t.Errorf("the pinned older commit is not recorded as a rollback from %.7s: %+v", second, r)
	}
}
