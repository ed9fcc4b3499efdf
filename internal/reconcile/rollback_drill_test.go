package reconcile_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// gitWrite gives the test's Project write access to its repository: a user
// that may push, and Lockstep's signing key, in labelled Secrets of the
// controller's namespace.
func (f *repoFixture) gitWrite(t *testing.T, key *gitserver.SSHKey, push v1.GitPush) *v1.GitWrite {
	t.Helper()
	user, password := "writer-"+f.ns, "writes-"+f.ns
	sharedGit.AddUser(user, password, gitserver.ReadWrite)
	ca, err := os.ReadFile(sharedGit.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{v1.LabelSecretUse: v1.SecretUseGitWrite}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-write-" + f.ns, Namespace: shared.opts.Namespace, Labels: labels},
			Data: map[string][]byte{"username": []byte(user), "password": []byte(password), "ca.crt": ca}},
		{ObjectMeta: metav1.ObjectMeta{Name: "git-sign-" + f.ns, Namespace: shared.opts.Namespace, Labels: labels},
			Data: map[string][]byte{"signing.key": key.PrivateKeyPEM}},
	} {
		if err := f.c.Create(testenv.Context(t), s); err != nil {
			t.Fatal(err)
		}
	}
	return &v1.GitWrite{SecretRef: v1.LocalObjectReference{Name: "git-write-" + f.ns},
		SigningKeySecretRef: &v1.LocalObjectReference{Name: "git-sign-" + f.ns}, Push: push}
}

// adminToken logs in as the controller's admin and returns the session token.
func adminToken(t *testing.T) string {
	t.Helper()
	anon, err := server.NewClientWith(server.ClientOptions{Server: shared.apiURL, AllowNoToken: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := anon.Login(testenv.Context(t), "admin", initialAdmin(t, env(t)))
	if err != nil {
		t.Fatal(err)
	}
	return s.Token
}

// The rollback drill: a bad version is synced and turns Degraded; an
// operator rolls it back with one command, which writes a signed revert on a
// branch and holds the Application; review merges it with two approvals;
// the previous state is back, and the ledger and blame tell the story.
func TestRollbackDrill(t *testing.T) {
	f := newRepo(t)
	merge, lockstepKey := sshKey(t), sshKey(t)
	f.keys(t, "Secret", "merge-key", map[string]string{"allowed_signers": "merge@git.internal " + merge.AuthorizedKey()})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Approvals:    &v1.ApprovalPolicy{Required: 2, KeysFrom: []v1.KeySource{{Name: "merge-key", Namespace: f.ns}}},
		GitWrite:     f.gitWrite(t, lockstepKey, v1.GitPushBranch),
	})
	approvals := "\n\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n"
	good := f.signedCommit(t, merge, ada, "web 1.0"+approvals, map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info")})
	f.create(t, f.application("web", "app", func(a *v1.Application) { f.inProject(a); a.Spec.Source.Git.Ref.Branch = "main"; waitForHealth(a) }))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, good)

	// The bad version: its Pods can run nowhere, and its rollout gives up.
	bad := strings.Replace(deploymentYAML("registry.internal/web:2.0", "debug"), "  replicas: 1\n", "  replicas: 1\n  progressDeadlineSeconds: 2\n", 1)
	bad = strings.Replace(bad, "    spec:\n", "    spec:\n      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n", 1)
	badRev := f.signedCommit(t, merge, gitserver.Person{Name: "Dan Dev", Email: "dan@example.com"}, "web 2.0"+approvals, map[string]string{"app/deploy.yaml": bad})
	f.refresh(t, "web")
	eventually(t, 30*time.Second, "the bad version to be applied and seen Degraded", func(context.Context) (bool, error) {
		app := f.get(t, "web")
		return app.Status.LastAppliedRevision != nil && app.Status.LastAppliedRevision.Commit == badRev &&
			app.Status.Health != nil && app.Status.Health.Status == "Degraded", nil
	})

	// One command: the revert, on a branch for review, signed by Lockstep.
	token := adminToken(t)
	started := time.Now()
	out := lockstep(t, "rollback", f.ns+"/web", "--to", "previous", "--reason", "web 2.0 cannot schedule (INC-7)", "--server", shared.apiURL, "--token", token)
	branch := regexp.MustCompile(`pushed to the new branch (\S+):`).FindStringSubmatch(out)
	if branch == nil || !strings.Contains(out, "reverts "+badRev[:12]+" web 2.0 (Dan Dev)") || !strings.Contains(out, "is held") {
		t.Fatalf("lockstep rollback:\n%s", out)
	}
	if head, _ := f.repo.Head("main"); head != badRev {
		t.Fatalf("main moved to %s: a rollback for review was pushed onto the followed branch", head)
	}
	t.Logf("lockstep rollback (two previews, a clone, a signed commit, a push, the hold) took %s", time.Since(started).Round(time.Millisecond))
	app := f.get(t, "web")
	if h := app.Status.Hold; h == nil {
		eventually(t, 10*time.Second, "the hold to be recorded", func(context.Context) (bool, error) {
			app = f.get(t, "web")
			return app.Status.Hold != nil, nil
		})
	}
	if h := app.Status.Hold; h.By != "admin" || h.RollbackTo != good || h.Branch != branch[1] || !strings.Contains(h.Reason, "INC-7") {
		t.Errorf("status.hold = %+v", h)
	}
	if r := f.waitRecords(t, "web", 1, audit.EventHold)[0]; r.Actor != "admin" || r.Revision != good || !strings.Contains(r.Message, "INC-7") {
		t.Errorf("the hold's record: %+v", r)
	}

	// Review approves; the forge squash-merges with its key.
	rollback, err := f.repo.Merge(gitserver.MergeOptions{From: branch[1], Squash: true, Signer: merge,
		Message: "Roll back " + f.ns + "/web to " + good[:12] + " (#12)\n\nweb 2.0 cannot schedule (INC-7)\n\n" +
			release.TrailerRollbackTo + ": " + good + "\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n"})
	if err != nil {
		t.Fatal(err)
	}
	merged := time.Now()
	f.refresh(t, "web")
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rollback)
	t.Logf("the merged rollback applied and Healthy %s after the merge", time.Since(merged).Round(time.Millisecond))
	if app.Status.Health == nil || app.Status.Health.Status != "Healthy" {
		t.Errorf("after the rollback: health %+v", app.Status.Health)
	}
	deploy := &appsv1.Deployment{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "web"}, deploy); err != nil {
		t.Fatal(err)
	}
	if c := deploy.Spec.Template.Spec.Containers[0]; c.Image != "registry.internal/web:1.0" || c.Env[0].Value != "info" || deploy.Spec.Template.Spec.NodeSelector != nil {
		t.Errorf("the Deployment after the rollback: %s, %v, %v", c.Image, c.Env, deploy.Spec.Template.Spec.NodeSelector)
	}

	// The ledger: the good sync, the bad one, the hold, the rollback by
	// Lockstep with its approvers.
	syncs := f.waitRecords(t, "web", 3, audit.EventSync)
	last := syncs[len(syncs)-1]
	if last.Revision != rollback || last.Commit == nil || !strings.HasPrefix(last.Commit.Author, release.DefaultAuthorName) ||
		len(last.Commit.ApprovedBy) != 2 || last.PreviousRevision != badRev {
		t.Errorf("the rollback's record: %+v %+v", last, last.Commit)
	}
	sawBad := false
	for _, r := range syncs {
		sawBad = sawBad || r.Revision == badRev
	}
	if !sawBad {
		t.Errorf("no record of the bad sync among %+v", syncs)
	}

	// Blame: the image is the rollback's.
	const image = "spec.template.spec.containers[0].image"
	blame := lockstep(t, "blame", "deployment/web", "-n", f.ns, "--field", image, "--server", shared.apiURL, "--token", apiToken)
	for _, want := range []string{image + ` = "registry.internal/web:1.0"`, "revision   " + rollback, "Roll back " + f.ns + "/web to " + good[:12], "Bob"} {
		if !strings.Contains(blame, want) {
			t.Errorf("blame lacks %q:\n%s", want, blame)
		}
	}

	// The hold stays until someone clears it, recorded with their name.
	lockstep(t, "hold", f.ns+"/web", "--clear", "--server", shared.apiURL, "--token", token)
	if r := f.waitRecords(t, "web", 1, audit.EventRelease)[0]; r.Actor != "admin" || !strings.Contains(r.Message, "INC-7") {
		t.Errorf("the release's record: %+v", r)
	}
}

// With push: Direct the rollback lands on the followed branch at once,
// signed with the Project's key, which the Project trusts; the Application
// applies it like any commit. Run with a kubeconfig, it acts as the caller.
// A Project without gitWrite, or a revision never applied, is refused.
func TestADirectRollbackIsSignedAndAppliedAtOnce(t *testing.T) {
	f := newRepo(t)
	merge, lockstepKey := sshKey(t), sshKey(t)
	f.keys(t, "Secret", "signers", map[string]string{"allowed_signers": "merge@git.internal " + merge.AuthorizedKey() + "\nlockstep@localhost " + lockstepKey.AuthorizedKey()})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Verification: &v1.Verification{KeysFrom: []v1.KeySource{{Name: "signers", Namespace: f.ns}}},
	})
	first := f.signedCommit(t, merge, ada, "info level\n", settings("info"))
	f.create(t, f.application("web", "app", f.inProject))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	second := f.signedCommit(t, merge, ada, "debug level\n", settings("debug"))
	f.refresh(t, "web")
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)

	rollback := func(args ...string) (string, error) {
		return runCLIResult(t, append([]string{"rollback", "web", "-n", f.ns, "--controller-namespace", shared.opts.Namespace}, args...)...)
	}
	if out, err := rollback("--to", "previous", "--reason", "too chatty"); err == nil || !strings.Contains(err.Error(), "has no spec.gitWrite") {
		t.Fatalf("a Project without gitWrite: %v\n%s", err, out)
	}
	write := f.gitWrite(t, lockstepKey, v1.GitPushDirect)
	f.updateProject(t, func(p *v1.ProjectSpec) { p.GitWrite = write })
	if out, err := rollback("--to", "deadbeef", "--reason", "too chatty"); err == nil || !strings.Contains(err.Error(), "is not a revision "+f.ns+"/web applied recently") {
		t.Fatalf("a revision never applied: %v\n%s", err, out)
	}
	// Never to content that would be refused today (Lockstep would sign it),
	// and never with a repository the Project does not allow.
	evil, err := f.repo.Commit(gitserver.CommitOptions{Message: "unsigned\n", Files: map[string][]byte{"app/settings.yaml": []byte(settings("evil")["app/settings.yaml"])}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := rollback("--to", evil, "--reason", "launder"); err == nil || !strings.Contains(err.Error(), evil[:12]+" would not be applied today") {
		t.Fatalf("a rollback to an unsigned commit: %v\n%s", err, out)
	}
	f.updateProject(t, func(p *v1.ProjectSpec) { p.SourceRepos = []string{"https://nowhere.invalid/**"} })
	if out, err := rollback("--to", first[:8], "--reason", "too chatty"); err == nil || !strings.Contains(err.Error(), "sourceRepos") {
		t.Fatalf("a rollback of a repository the Project does not allow: %v\n%s", err, out)
	}
	f.updateProject(t, func(p *v1.ProjectSpec) { p.SourceRepos = []string{"**"} })

	out, err := rollback("--to", first[:8], "--reason", "too chatty")
	if err != nil || !strings.Contains(out, "pushed to main:") {
		t.Fatalf("lockstep rollback --kubeconfig: %v\n%s", err, out)
	}
	head, _ := f.repo.Head("main")
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	if got := f.level(t); got != "info" {
		t.Errorf("LEVEL = %q after the rollback", got)
	}
	if r := app.Status.LastAppliedRevision; !strings.Contains(r.VerifiedBy, "lockstep@localhost") || !strings.HasPrefix(r.Subject, "Roll back "+f.ns+"/web to "+first[:12]) {
		t.Errorf("the applied rollback: %+v", r)
	}
	if h := app.Status.Hold; h == nil || h.RollbackCommit != head || h.Branch != "" {
		t.Errorf("status.hold = %+v", h)
	}
}

// runCLIResult is runCLI that returns the error instead of failing.
func runCLIResult(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(append(args, "--kubeconfig", kubeconfigFile(t)))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(testenv.Context(t))
	return out.String(), err
}

// Whoever asked for a rollback cannot approve it: the forge's merge commit
// carries their approval, and the commit it merges names them as the
// requester, so the two-person rule counts them as an author.
func TestARequesterCannotApproveTheirOwnRollback(t *testing.T) {
	f := newRepo(t)
	merge, lockstepKey := sshKey(t), sshKey(t)
	f.keys(t, "Secret", "merge-key", map[string]string{"allowed_signers": "merge@git.internal " + merge.AuthorizedKey()})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Approvals:    &v1.ApprovalPolicy{Required: 1, KeysFrom: []v1.KeySource{{Name: "merge-key", Namespace: f.ns}}},
		GitWrite:     f.gitWrite(t, lockstepKey, v1.GitPushDirect), // Branch all the same: approvals are required
	})
	first := f.signedCommit(t, merge, ada, "info\n\nApproved-by: Bob <bob@example.com>\n", settings("info"))
	f.create(t, f.application("web", "app", func(a *v1.Application) { f.inProject(a); a.Spec.Source.Git.Ref.Branch = "main" }))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	second := f.signedCommit(t, merge, ada, "debug\n\nApproved-by: Bob <bob@example.com>\n", settings("debug"))
	f.refresh(t, "web")
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)

	res, err := adminClient(t, f.c).Rollback(testenv.Context(t), f.ns, "web", server.RollbackRequest{To: "previous", Reason: "too chatty"})
	if err != nil || res.Direct || res.Branch == "" {
		t.Fatalf("rollback with approvals required: %+v, %v; want a branch for review", res, err)
	}
	merged, err := f.repo.Merge(gitserver.MergeOptions{From: res.Branch, Signer: merge,
		Message: "Merge pull request #3\n\nApproved-by: Admin <admin@example.com>\n"})
	if err != nil {
		t.Fatal(err)
	}
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonPolicyDenied, merged)
	if msg := readyMessage(app); !strings.Contains(msg, "has 0") {
		t.Errorf("the requester's own approval counted: %s", msg)
	}
	if got := f.level(t); got != "debug" {
		t.Errorf("LEVEL = %q: a self-approved rollback was applied", got)
	}
}
