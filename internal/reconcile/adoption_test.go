package reconcile_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// An object that exists but that no Application manages is taken over as an
// adoption, recorded with the values it had (it was recorded as a create,
// with no before-values); a Project with adoption: Refuse denies the sync,
// naming the object and who wrote it.
func TestTakingOverAnExistingObjectIsAnAdoption(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	byHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: f.ns}, Data: map[string]string{"GREETING": "made by hand"}}
	if err := f.c.Create(ctx, byHand); err != nil {
		t.Fatal(err)
	}
	rev := f.commit(t, "the settings in Git", map[string]string{"app/cm.yaml": configMapYAML})
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}}, Adoption: v1.AdoptionRefuse})

	refused := f.application("refused", "app", f.inProject)
	f.create(t, refused)
	app := f.waitFor(t, "refused", metav1.ConditionFalse, v1.ReasonPolicyDenied, rev)
	msg := readyMessage(app)
	if !strings.Contains(msg, "ConfigMap/"+f.ns+"/settings exists and no Application manages it") || !strings.Contains(msg, "spec.adoption: Refuse") {
		t.Errorf("the denial does not name the object and the rule: %s", msg)
	}

	f.updateProject(t, func(s *v1.ProjectSpec) { s.Adoption = v1.AdoptionAllow })
	f.waitFor(t, "refused", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	sync := f.waitRecords(t, "refused", 1, audit.EventSync)[0]
	if len(sync.Changes) != 1 || sync.Changes[0].Action != audit.Adopt {
		t.Fatalf("the sync recorded %+v, want one adoption", sync.Changes)
	}
	had := false
	for _, fc := range sync.Changes[0].Fields {
		if fc.Path == "data.GREETING" && strings.Contains(fc.From, "made by hand") && strings.Contains(fc.To, "hello") {
			had = true
		}
	}
	if !had {
		t.Errorf("the adoption does not record the value it had: %+v", sync.Changes[0].Fields)
	}
}
