package receiver_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/receiver"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

func app(name, url, path string, ref v1.GitRef) v1.Application {
	return v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
		Spec: v1.ApplicationSpec{Source: v1.Source{Git: v1.GitSource{URL: url, Ref: ref}, Path: path}}}
}

func TestTargetsAreTheApplicationsThePushConcerns(t *testing.T) {
	const url = "https://git.internal/team/app.git"
	apps := []v1.Application{
		app("main-web", url, "apps/web", v1.GitRef{Branch: "main"}),
		app("main-db", url, "apps/db", v1.GitRef{Branch: "main"}),
		app("main-base", url, "overlays/prod", v1.GitRef{Branch: "main"}), // reads bases/ too
		app("main-unknown", url, "overlays/stage", v1.GitRef{Branch: "main"}),
		app("default-branch", "ssh://git@git.internal:2222/team/app", "apps/web", v1.GitRef{}),
		app("release", url, "apps/web", v1.GitRef{Branch: "release"}),
		app("tag", url, "apps/web", v1.GitRef{Tag: "v1.2.0"}),
		app("semver", url, "apps/web", v1.GitRef{Semver: ">=1.0.0"}),
		app("pinned", url, "apps/web", v1.GitRef{Commit: "0123456789abcdef0123456789abcdef01234567"}),
		app("other-repo", "https://git.internal/team/other.git", "apps/web", v1.GitRef{Branch: "main"}),
		app("root", url, "", v1.GitRef{Branch: "main"}),
	}
	suspended := app("suspended", url, "apps/web", v1.GitRef{Branch: "main"})
	suspended.Spec.Suspend = true
	apps = append(apps, suspended)
	inputs := func(key types.NamespacedName) ([]string, bool) {
		switch key.Name {
		case "main-base":
			return []string{"bases/web", "overlays/prod"}, true
		case "main-unknown":
			return nil, false
		}
		return []string{"somewhere/else"}, true
	}
	names := func(e webhook.Event) []string {
		var out []string
		for _, a := range receiver.Targets(e, apps, inputs) {
			out = append(out, a.Name)
		}
		slices.Sort(out)
		return out
	}
	repo := []string{"https://git.internal/team/app.git", "team/app"}
	for _, tc := range []struct {
		name  string
		event webhook.Event
		want  []string
	}{
		{"a push to main listing no files concerns every follower of main and of the default branch",
			webhook.Event{Repositories: repo, Ref: "refs/heads/main"},
			[]string{"default-branch", "main-base", "main-db", "main-unknown", "main-web", "root"}},
		{"a push to main that changed apps/web",
			webhook.Event{Repositories: repo, Ref: "refs/heads/main", Files: []string{"apps/web/deploy.yaml"}},
			[]string{"default-branch", "main-unknown", "main-web", "root"}},
		{"a change to a base concerns the overlay whose render read it",
			webhook.Event{Repositories: repo, Ref: "refs/heads/main", Files: []string{"bases/web/deploy.yaml"}},
			[]string{"main-base", "main-unknown", "root"}},
		{"a push that changed no file concerns only those whose render is unknown",
			webhook.Event{Repositories: repo, Ref: "refs/heads/main", Files: []string{}},
			[]string{"main-unknown"}},
		{"a tag concerns its followers and semver ranges, not branches",
			webhook.Event{Repositories: repo, Ref: "refs/tags/v1.2.0"},
			[]string{"semver", "tag"}},
		{"another tag concerns only semver ranges",
			webhook.Event{Repositories: repo, Ref: "refs/tags/v1.3.0"},
			[]string{"semver"}},
		{"another repository concerns none of them",
			webhook.Event{Repositories: []string{"https://git.internal/team/app2.git"}, Ref: "refs/heads/main"},
			nil},
		{"several refs moved at once (Bitbucket Server) concerns every follower",
			webhook.Event{Repositories: repo},
			[]string{"default-branch", "main-base", "main-db", "main-unknown", "main-web", "release", "root", "semver", "tag"}},
		{"another branch",
			webhook.Event{Repositories: repo, Ref: "refs/heads/release", Files: []string{"apps/web/x.yaml"}},
			[]string{"default-branch", "release"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, names(tc.event)); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

// An Application whose newest commit was refused for its approvals or
// signature looks at every push to its ref: an empty commit bringing
// approvals touches no file.
func TestARefusedApplicationLooksAtEveryPush(t *testing.T) {
	denied := app("denied", "https://git.internal/team/app.git", "apps/denied", v1.GitRef{Branch: "main"})
	denied.Status.Sync.Reason = v1.ReasonPolicyDenied
	other := app("other", "https://git.internal/team/app.git", "apps/other", v1.GitRef{Branch: "main"})
	e := webhook.Event{Repositories: []string{"team/app"}, Ref: "refs/heads/main", Files: []string{"apps/web/x.yaml"}}
	known := func(types.NamespacedName) ([]string, bool) { return []string{"apps/somewhere"}, true }
	got := receiver.Targets(e, []v1.Application{denied, other}, known)
	if len(got) != 1 || got[0].Name != "denied" {
		t.Errorf("targets %v, want only the refused Application", got)
	}
}
