package reconcile_test

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// digestOverlay is a Kustomize overlay of base/ with its own name suffix,
// pinning the web image by digest.
func digestOverlay(suffix, digest string) string {
	return "resources:\n- ../../base\nnameSuffix: -" + suffix + "\nimages:\n- name: registry.internal/web\n  digest: " + digest + "\n"
}

// Two environments, web-stage → web-prod, each at its own revision:
// lockstep get releases shows stage first, then prod, each with the
// revision it runs, the image digest its sync applied and when it got
// there, as the ledger recorded it; with --history, stage's earlier
// release under it.
func TestReleasesAcrossEnvironments(t *testing.T) {
	f := newRepo(t)
	old, next := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	first := f.commit(t, "web 1.0 everywhere", map[string]string{
		"base/deploy.yaml":              deploymentYAML("registry.internal/web", "info"),
		"base/kustomization.yaml":       "resources: [deploy.yaml]\n",
		"envs/stage/kustomization.yaml": digestOverlay("stage", old),
		"envs/prod/kustomization.yaml":  digestOverlay("prod", old),
	})
	f.create(t, f.application("web-prod", "envs/prod", func(a *v1.Application) {
		a.Spec.Promotion = &v1.Promotion{From: "web-stage", Copy: v1.PromotionCopy{KustomizeImages: true}}
	}))
	f.create(t, f.application("web-stage", "envs/stage", nil))
	f.waitFor(t, "web-stage", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	f.waitFor(t, "web-prod", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	// Stage moves on; prod stays where it is.
	second := f.commit(t, "web 2.0 on stage", map[string]string{"envs/stage/kustomization.yaml": digestOverlay("stage", next)})
	f.refresh(t, "web-stage")
	f.waitFor(t, "web-stage", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	stage := f.waitRecords(t, "web-stage", 2, audit.EventSync)
	prod := f.waitRecords(t, "web-prod", 1, audit.EventSync)

	token := adminToken(t)
	as := []string{"--server", shared.apiURL, "--token", token}
	var got server.ReleaseList
	out := lockstep(t, append([]string{"get", "releases", "web-prod", "web-stage", "-n", f.ns, "--history", "1", "-o", "json"}, as...)...)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(got.Items) != 2 || got.Items[0].Name != "web-stage" || got.Items[1].Name != "web-prod" || got.Items[1].From != "web-stage" {
		t.Fatalf("releases in the wrong order or incomplete:\n%s", out)
	}
	image := func(digest string) []string { return []string{"registry.internal/web@" + digest} }
	check := func(what string, r *audit.Release, rec audit.Record, revision string, images []string) {
		t.Helper()
		if r == nil || r.Revision != revision || r.Seq != rec.Seq || !r.Since.Equal(rec.Time) || strings.Join(r.Images, " ") != strings.Join(images, " ") ||
			r.Commit == nil || r.Commit.Subject != rec.Commit.Subject {
			t.Errorf("%s: %+v, want revision %.12s since #%d at %s with %v", what, r, revision, rec.Seq, rec.Time, images)
		}
	}
	check("stage now", got.Items[0].Current, stage[1], second, image(next))
	if len(got.Items[0].Previous) != 1 {
		t.Fatalf("stage's history: %+v", got.Items[0].Previous)
	}
	check("stage before", &got.Items[0].Previous[0], stage[0], first, image(old))
	check("prod", got.Items[1].Current, prod[0], first, image(old))

	// The table: stage's row, its earlier release under it, then prod's.
	table := lockstep(t, append([]string{"get", "releases", "-n", f.ns, "--history", "1"}, as...)...)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and three rows:\n%s", table)
	}
	for i, want := range [][]string{
		{"ENVIRONMENT", "FROM", "REVISION", "SINCE", "IMAGES", "SUBJECT"},
		{f.ns + "/web-stage ", second[:12], "registry.internal/web@sha256:222222222222 ", "web 2.0 on stage"},
		{"  └─", first[:12], "registry.internal/web@sha256:111111111111 ", "web 1.0 everywhere"},
		{f.ns + "/web-prod ", " web-stage ", first[:12], "registry.internal/web@sha256:111111111111 ", "web 1.0 everywhere"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q:\n%s", i, w, table)
			}
		}
	}
}
