package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// A pull request's branch is previewed against the live cluster before it is
// merged, as a CI job would: through the API with a token, as Markdown. The
// preview shows what merging changes and what the branch still lacks (its
// approvals), changes nothing, and needs "applications preview".
// login creates the local account name and logs in as it.
func login(t *testing.T, admin *server.Client, name string) *server.Client {
	t.Helper()
	if err := admin.CreateAccount(testenv.Context(t), name, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	anon, _ := server.NewClientWith(server.ClientOptions{Server: shared.apiURL, AllowNoToken: true})
	s, err := anon.Login(testenv.Context(t), name, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	c, err := server.NewClient(shared.apiURL, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPreviewABranchBeforeItIsMerged(t *testing.T) {
	f := newRepo(t)
	merge := sshKey(t)
	f.keys(t, "Secret", "merge-key", map[string]string{"allowed_signers": "merge@git.internal " + merge.AuthorizedKey()})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Approvals:    &v1.ApprovalPolicy{Required: 2, KeysFrom: []v1.KeySource{{Name: "merge-key", Namespace: f.ns}}},
	})
	approved := f.signedCommit(t, merge, ada, "info level\n\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n", settings("info"))
	f.create(t, f.application("web", "app", f.inProject))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, approved)

	// The pull request: debug logging and one more ConfigMap, not yet approved;
	// its subject tries to mention someone and inject HTML.
	branch, err := f.repo.Commit(gitserver.CommitOptions{Branch: "feature/debug", Message: "Debug @platform-team <img src=x>\n",
		Author: gitserver.Person{Name: "Dan Dev", Email: "dan@example.com"},
		Files: map[string][]byte{"app/settings.yaml": []byte(settings("debug")["app/settings.yaml"]),
			"app/extra.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {A: b}\n")}})
	if err != nil {
		t.Fatal(err)
	}

	// The CI job's token: its account may read and preview this namespace's
	// Applications, nothing more.
	admin := adminClient(t, f.c)
	ci, role := "ci-"+f.ns, "role:ci-"+f.ns
	grantPolicy(t, f.c, "g, "+ci+", "+role, "p, "+role+", applications, get, */"+f.ns+"/*, allow", "p, "+role+", applications, preview, */"+f.ns+"/*, allow", "p, "+role+", tokens, create, *, allow")
	ciClient := login(t, admin, ci)
	var tok server.NewToken
	eventually(t, 10*time.Second, "the CI account makes its token once the RBAC ConfigMap is loaded", func(ctx context.Context) (bool, error) {
		tok, err = ciClient.CreateToken(ctx, auth.TokenRequest{Name: "pr-preview", Roles: []string{role}, ExpiresIn: "1h"})
		return err == nil, err
	})
	token := []string{"--server", shared.apiURL, "--token", tok.Token}
	md := lockstep(t, append([]string{"diff", f.ns + "/web", "--revision", "feature/debug", "-o", "markdown"}, token...)...)
	for _, want := range []string{
		"### Lockstep preview of `" + f.ns + "/web` at `" + branch[:12] + "` (branch feature/debug)",
		"**Not yet met**", "`PolicyDenied`", "needs 2",
		"| update | `ConfigMap/" + f.ns + "/settings` | `data.LEVEL` |",
		"| create | `ConfigMap/" + f.ns + "/extra` |",
		"```diff", "+  LEVEL: debug",
		"@\u2060platform\\-team &lt;img src=x&gt;",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown preview lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "lockstep sync") {
		t.Errorf("a preview of a branch offers to sync it:\n%s", md)
	}
	if got := f.level(t); got != "info" {
		t.Errorf("LEVEL = %q after a preview: a preview changed the cluster", got)
	}

	// The same with a kubeconfig, run here, as text.
	text := runCLI(t, "diff", "web", "-n", f.ns, "--revision", "feature/debug")
	for _, want := range []string{"# previewing branch feature/debug, not the ref it follows", "# not yet met (PolicyDenied): ", "+  LEVEL: debug"} {
		if !strings.Contains(text, want) {
			t.Errorf("lockstep diff --kubeconfig lacks %q:\n%s", want, text)
		}
	}

	// The same through the API as data, by commit hash.
	pv, err := admin.Preview(testenv.Context(t), f.ns, "web", branch)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Requested != "commit "+branch || pv.Revision != branch || len(pv.Unmet) != 1 || pv.Counts["Create"] != 1 {
		raw, _ := json.MarshalIndent(pv, "", "  ")
		t.Errorf("the preview of %.12s:\n%s", branch, raw)
	}

	// A reader may preview what the Application follows, not a branch.
	viewer := "viewer-" + f.ns
	grantReadOnly(t, f.c, viewer)
	reader := login(t, admin, viewer)
	eventually(t, 10*time.Second, "the viewer previews the followed ref once the RBAC ConfigMap is loaded", func(ctx2 context.Context) (bool, error) {
		_, err := reader.Preview(ctx2, f.ns, "web", "")
		return err == nil, err
	})
	var se *server.StatusError
	if _, err := reader.Preview(testenv.Context(t), f.ns, "web", "feature/debug"); !errors.As(err, &se) || se.Code != 403 || !strings.Contains(err.Error(), "applications preview") {
		t.Errorf("a reader previews a branch: %v", err)
	}
	if _, err := admin.Preview(testenv.Context(t), f.ns, "web", "cafe12"); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(err.Error(), "full 40-character hash") {
		t.Errorf("an abbreviated hash: %v", err)
	}
}
