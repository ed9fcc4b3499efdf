package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitea"
)

// TestStatusGitea sets commit statuses on a real Gitea (built from its Go
// module, see internal/testenv/gitea) and reads them back through its API:
// one per Application, replaced as the commit's deployment moves on.
func TestStatusGitea(t *testing.T) {
	srv := gitea.New(t)
	ctx := t.Context()
	repo, err := srv.CreateRepo(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := srv.Commit(ctx, repo, "", map[string]string{"deploy/web.yaml": "kind: ConfigMap\n"}, "Add web")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewStatus(StatusConfig{Type: Gitea, Address: srv.URL, Token: srv.Token, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	byContext := func() map[string]gitea.Status {
		t.Helper()
		_, statuses, err := srv.Statuses(ctx, repo, sha)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]gitea.Status{}
		for _, s := range statuses {
			out[s.Context] = s
		}
		return out
	}

	// Applied, still progressing: pending. The repository as its web page
	// names it.
	m := statusMessage(repo.HTMLURL)
	m.Revision = sha
	if err := p.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := gitea.Status{
		State:       "pending",
		Context:     "lockstep/team-a/web",
		Description: "Synced, Progressing: 2 created, 1 updated, 0 pruned",
		TargetURL:   "https://lockstep.internal/applications/team-a/web",
	}
	if diff := cmp.Diff(map[string]gitea.Status{want.Context: want}, byContext()); diff != "" {
		t.Errorf("after the sync (-want +got):\n%s", diff)
	}

	// Healthy: the same context turns success. The repository as its clone
	// URL names it.
	m.Repository = repo.CloneURL
	m.Trigger, m.Health, m.Summary = Deployed, "Healthy", ""
	if err := p.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	want.State, want.Description = "success", "Deployed"
	// A second Application of the same commit fails; scp-like SSH URL
	// (Gitea's SSH path is owner/repo too).
	other := statusMessage("git@127.0.0.1:" + repo.FullName() + ".git")
	other.Application, other.Revision = "team-b/api", sha
	other.Trigger, other.Reason, other.Summary = SyncFailed, "ApplyFailed", "Deployment/api/api: admission webhook \"policy.example\" denied the request"
	other.URL = ""
	if err := p.Send(ctx, other); err != nil {
		t.Fatal(err)
	}
	wantOther := gitea.Status{
		State:       "error",
		Context:     "lockstep/team-b/api",
		Description: `Sync failed (ApplyFailed): Deployment/api/api: admission webhook "policy.example" denied the request`,
	}
	if diff := cmp.Diff(map[string]gitea.Status{want.Context: want, wantOther.Context: wantOther}, byContext()); diff != "" {
		t.Errorf("after Deployed and another Application's failure (-want +got):\n%s", diff)
	}
	combined, _, err := srv.Statuses(ctx, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	// Gitea combines error, failure and warning as failure.
	if combined != "failure" {
		t.Errorf("combined state of main: %q, want failure", combined)
	}
}

// TestStatusGiteaRefusals: what Gitea refuses fails without a retry, and
// the error never repeats the token.
func TestStatusGiteaRefusals(t *testing.T) {
	srv := gitea.New(t)
	ctx := t.Context()
	repo, err := srv.CreateRepo(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := srv.Commit(ctx, repo, "", map[string]string{"a.yaml": "a: 1\n"}, "a")
	if err != nil {
		t.Fatal(err)
	}
	m := statusMessage(repo.CloneURL)
	m.Revision = sha

	wrongToken := strings.Repeat("0", len(srv.Token))
	for name, c := range map[string]struct {
		token, repository string
	}{
		"a wrong token":      {wrongToken, repo.CloneURL},
		"no such repository": {srv.Token, srv.URL + "/" + gitea.Username + "/no-such-repo.git"},
	} {
		p, err := NewStatus(StatusConfig{Type: Forgejo, Address: srv.URL, Token: c.token, Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		m.Repository = c.repository
		err = p.Send(ctx, m)
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retry {
			t.Errorf("%s: err = %v, want a final *DeliveryError", name, err)
			continue
		}
		if strings.Contains(err.Error(), c.token) {
			t.Errorf("%s: the error repeats the token: %v", name, err)
		}
	}
}
