package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// overlay is a Kustomize overlay of base/ with its own name suffix and tag.
func overlay(suffix, tag string) string {
	return "# " + suffix + ": promoted by Lockstep\nresources:\n- ../../base\nnameSuffix: -" + suffix + "\nimages:\n- name: registry.internal/web\n  newTag: \"" + tag + "\"\n"
}

// stage → prod: a promotion waits for its gates, copies the image stage runs
// into prod's overlay as a signed commit whose trailers link stage's revision
// and ledger record, and prod applies it like any commit. A held prod takes
// no promotion.
func TestPromoteStageToProdByCommit(t *testing.T) {
	f := newRepo(t)
	lockstepKey := sshKey(t)
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		GitWrite:     f.gitWrite(t, lockstepKey, v1.GitPushDirect),
	})
	first := f.commit(t, "web 1.1 on stage", map[string]string{
		"base/deploy.yaml":              deploymentYAML("registry.internal/web:1.0", "info"),
		"base/kustomization.yaml":       "resources: [deploy.yaml]\n",
		"envs/stage/kustomization.yaml": overlay("stage", "1.1"),
		"envs/prod/kustomization.yaml":  overlay("prod", "1.0"),
	})
	onMain := func(a *v1.Application) { f.inProject(a); a.Spec.Source.Git.Ref.Branch = "main"; waitForHealth(a) }
	f.create(t, f.application("web-stage", "envs/stage", onMain))
	f.create(t, f.application("web-prod", "envs/prod", func(a *v1.Application) {
		onMain(a)
		a.Spec.Promotion = &v1.Promotion{From: "web-stage", Copy: v1.PromotionCopy{KustomizeImages: true},
			Gates: v1.PromotionGates{Soak: &metav1.Duration{Duration: time.Hour}}}
	}))
	f.waitFor(t, "web-stage", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	f.waitFor(t, "web-prod", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	admin := adminClient(t, f.c)
	ctx := testenv.Context(t)
	if _, err := admin.Promote(ctx, f.ns, "web-prod", server.PromoteRequest{}); err == nil || !strings.Contains(err.Error(), "gates.soak: "+f.ns+"/web-stage has been Synced and Healthy at "+first[:12]) {
		t.Fatalf("a promotion before the soak: %v", err)
	}
	app := f.get(t, "web-prod")
	app.Spec.Promotion.Gates.Soak = &metav1.Duration{Duration: time.Second}
	if err := f.c.Update(ctx, app); err != nil {
		t.Fatal(err)
	}
	var res release.PromotionResult
	var took time.Duration
	eventually(t, 10*time.Second, "the promotion once stage has soaked", func(ctx context.Context) (bool, error) {
		var err error
		started := time.Now()
		defer func() { took = time.Since(started) }()
		res, err = admin.Promote(ctx, f.ns, "web-prod", server.PromoteRequest{Reason: "release 1.1 (CHG-12)"})
		return err == nil, err
	})
	if !res.Changed || !res.Direct || res.Revision != first || len(res.Copied) != 1 || res.Copied[0].Path != "images[registry.internal/web].newTag" || res.Copied[0].To != "1.1" {
		t.Fatalf("promotion: %+v", res)
	}

	t.Logf("lockstep promote (gates, a fetch, a clone, a signed commit, a push) took %s", took.Round(time.Millisecond))

	// prod applies the commit: stage's image, and the trailers say whence.
	pushed := time.Now()
	f.refresh(t, "web-prod")
	app = f.waitFor(t, "web-prod", metav1.ConditionTrue, v1.ReasonSucceeded, res.Commit)
	t.Logf("web-prod applied the promotion %s after it was pushed", time.Since(pushed).Round(time.Millisecond))
	deploy := &appsv1.Deployment{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web-prod"}, deploy); err != nil {
		t.Fatal(err)
	}
	if img := deploy.Spec.Template.Spec.Containers[0].Image; img != "registry.internal/web:1.1" {
		t.Errorf("web-prod runs %s after the promotion", img)
	}
	trailers := map[string]string{}
	for _, tr := range app.Status.LastAppliedRevision.Trailers {
		trailers[tr.Key] = tr.Value
	}
	if trailers[release.TrailerPromotedFrom] != f.ns+"/web-stage" || trailers[release.TrailerPromotedRevision] != first ||
		!strings.HasPrefix(trailers[release.TrailerPromotedLedger], "#") || trailers[release.TrailerRequestedBy] != "admin" ||
		!strings.Contains(app.Status.LastAppliedRevision.VerifiedBy+app.Status.LastAppliedRevision.Subject, "Promote "+first[:12]) {
		t.Errorf("the promotion commit as applied: %+v", app.Status.LastAppliedRevision)
	}
	if again, err := admin.Promote(ctx, f.ns, "web-prod", server.PromoteRequest{}); err != nil || again.Changed {
		t.Errorf("promoting again: %+v, %v", again, err)
	}

	// Held, prod takes no promotion, and says how to go on.
	if _, err := admin.Hold(ctx, f.ns, "web-prod", "freeze (CHG-13)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the hold to be seen", func(context.Context) (bool, error) {
		return f.get(t, "web-prod").Annotations[v1.AnnotationHold] != "", nil
	})
	_, err := admin.Promote(ctx, f.ns, "web-prod", server.PromoteRequest{})
	var se *server.StatusError
	if !errors.As(err, &se) || se.Code != 422 || !strings.Contains(err.Error(), "is held by admin") || !strings.Contains(err.Error(), "lockstep hold "+f.ns+"/web-prod --clear") {
		t.Errorf("a promotion into a held Application: %v", err)
	}
}
