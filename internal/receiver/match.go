package receiver

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// InputsOf says which folders an Application's last render read; false when
// it is not known (no render since the controller started, or the last one
// failed).
type InputsOf func(types.NamespacedName) ([]string, bool)

// Targets are the Applications among apps that a push concerns:
//   - they follow the pushed repository (under any of its names);
//   - the pushed ref is the one they follow: their branch, their tag, any
//     tag for a semver range, any branch when they name none (the default
//     branch, which payloads do not name); never a pinned commit;
//   - when the payload lists the changed files, one is in their path or in
//     a folder their last render read (a Kustomize base, a Jsonnet library);
//     with no render known, any push concerns them.
//
// Suspended Applications are left alone: they would not act on it.
func Targets(e webhook.Event, apps []v1.Application, inputs InputsOf) []*v1.Application {
	var out []*v1.Application
	for i := range apps {
		app := &apps[i]
		if app.Spec.Suspend || !followsRef(e, app.Spec.Source.Git) || !touches(e, app, inputs) {
			continue
		}
		out = append(out, app)
	}
	return out
}

// waitsOnTheCommit: an Application whose newest commit was refused for its
// signature or approvals may be freed by any new commit (an empty one
// carrying approvals), whatever files it touches.
func waitsOnTheCommit(app *v1.Application) bool {
	r := app.Status.Sync.Reason
	return r == v1.ReasonPolicyDenied || r == v1.ReasonVerificationFailed
}

func followsRef(e webhook.Event, git v1.GitSource) bool {
	ref := git.Ref
	var want string
	switch {
	case ref.Commit != "":
		return false // pinned: no push moves it
	case e.Ref == "":
		return e.Matches(git.URL, "") // several refs moved (Bitbucket Server): any may be theirs
	case ref.Branch != "":
		want = "refs/heads/" + ref.Branch
	case ref.Tag != "":
		want = "refs/tags/" + ref.Tag
	case ref.Semver != "":
		if !strings.HasPrefix(e.Ref, "refs/tags/") {
			return false
		}
	default:
		if !strings.HasPrefix(e.Ref, "refs/heads/") {
			return false
		}
	}
	return e.Matches(git.URL, want)
}

func touches(e webhook.Event, app *v1.Application, inputs InputsOf) bool {
	if e.Files == nil || e.Touches(app.Spec.Source.Path) || waitsOnTheCommit(app) {
		return true
	}
	if inputs == nil {
		return true
	}
	read, known := inputs(types.NamespacedName{Namespace: app.Namespace, Name: app.Name})
	if !known {
		return true
	}
	for _, dir := range read {
		if e.Touches(dir) {
			return true
		}
	}
	return false
}
