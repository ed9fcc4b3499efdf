package reconcile_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// logInAsAdmin opens the UI at page and logs in as the initial admin.
func logInAsAdmin(t *testing.T, f *repoFixture, page string) *browser.Browser {
	t.Helper()
	b := browser.New(t, shared.apiURL, browser.ExpectStatus(401, "/api/v1/session"))
	b.Navigate(page)
	b.WaitVisible("#username")
	b.Type("#username", auth.AdminAccount)
	b.Type("#password", initialAdmin(t, f.c))
	b.Click("form.login button[type=submit]")
	b.WaitGone("form.login")
	return b
}

// resourcePage is the UI's address of one object of an Application.
func resourcePage(ns, app, group, kind, name string) string {
	return fmt.Sprintf("/#/apps/%s/%s/resource?", ns, app) + url.Values{"group": {group}, "kind": {kind}, "namespace": {ns}, "name": {name}}.Encode()
}

// "The memory limit is not what Git says": in the browser an operator finds
// the Deployment in the tree, sees in blame who set the limit and that
// someone changed it by hand since, reads the diff with Git, syncs it back
// from the plan, and sees the diff of a commit pushed after that; against
// the real controller, control plane and Git server.
func TestAnOperatorTracesADriftInTheBrowser(t *testing.T) {
	f := newRepo(t)
	cm := func(mb string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-settings}\ndata: {CACHE_MB: '" + mb + "'}\n"
	}
	first := f.commit(t, "Deploy the API", map[string]string{"prod/api.yaml": apiDeployment("256Mi"), "prod/cm.yaml": cm("64")})
	f.create(t, f.application("prod-api", "prod", nil))
	f.waitFor(t, "prod-api", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	raise, err := f.repo.Commit(gitserver.CommitOptions{
		Files:   map[string][]byte{"prod/api.yaml": []byte(apiDeployment("512Mi"))},
		Message: "Raise the API memory limit (OPS-42)\n\nApproved-by: Lena Lead <lena@example.com>\n",
		Author:  gitserver.Person{Name: "Bob Builder", Email: "bob@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.refresh(t, "prod-api")
	f.waitFor(t, "prod-api", metav1.ConditionTrue, v1.ReasonSucceeded, raise)

	// Someone edits the limit by hand; without self-heal it stays, reported.
	f.editMemoryLimit(t, "api", "1Gi")
	f.waitFor(t, "prod-api", metav1.ConditionFalse, v1.ReasonDriftDetected, "")
	f.waitRecords(t, "prod-api", 1, audit.EventDrift)

	// The tree: the Deployment under its kind, what it owns under it; the
	// filter narrows to one kind.
	b := logInAsAdmin(t, f, fmt.Sprintf("/#/apps/%s/prod-api", f.ns))
	deployment := `details.group[data-kind="Deployment"]`
	eventually(t, 30*time.Second, "the tree shows the Deployment's ReplicaSet", func(context.Context) (bool, error) {
		b.Navigate(fmt.Sprintf("/?%d#/apps/%s/prod-api", time.Now().UnixNano(), f.ns))
		b.WaitVisible(deployment)
		text := b.Text(deployment)
		return strings.Contains(text, "Deployment/"+f.ns+"/api") && strings.Contains(text, "ReplicaSet/"), fmt.Errorf("the group reads %q", text)
	})
	if h := b.Text(".summary h1"); !strings.Contains(h, "OutOfSync") {
		t.Errorf("the summary reads %q while the limit differs from Git", h)
	}
	b.Type("#tree-filter", "settings")
	eventually(t, 5*time.Second, "the filter leaves the ConfigMap", func(context.Context) (bool, error) {
		kinds := b.Texts("details.group summary strong")
		return len(kinds) == 1 && kinds[0] == "ConfigMap", fmt.Errorf("groups %q", kinds)
	})
	if text := b.Text("section.tree"); strings.Contains(text, "null") || strings.Contains(text, "undefined") {
		t.Errorf("the tree reads %q", text)
	}
	b.WaitVisible("#history-h + table")
	if took := b.Texts("#history-h + table tbody tr td:last-child"); len(took) != 2 || !strings.HasSuffix(took[0], "ms") && !strings.HasSuffix(took[0], " s") {
		t.Errorf("the history's durations read %q", took)
	}
	b.Screenshot("tree")

	// Blame: who set the limit, and the hand edit since.
	b.Navigate(resourcePage(f.ns, "prod-api", "apps", "Deployment", "api"))
	b.WaitVisible("#blame-h + table")
	const memory = "spec.template.spec.containers[0].resources.limits.memory"
	row := b.Text(fmt.Sprintf(`#blame-h + table tr[data-field=%q]`, memory))
	for _, want := range []string{"1Gi", raise[:12], "Bob Builder", "Lena Lead", "differs from Git: changed by kubectl-edit"} {
		if !strings.Contains(row, want) {
			t.Errorf("blame of the memory limit lacks %q: %q", want, row)
		}
	}
	b.Screenshot("blame")

	// The diff with Git, numbered on both sides.
	b.Click(`a.button[href*="desired=true"]`)
	b.WaitVisible("table.diff")
	diff := strings.Join(b.Texts("table.diff tbody tr"), "\n")
	if !strings.Contains(diff, "memory: 1Gi") || !strings.Contains(diff, "memory: 512Mi") {
		t.Errorf("the diff lacks the limit's two values:\n%s", diff)
	}
	if n := b.Count(`table.diff td.ln:not([data-ln=""])`); n < 4 {
		t.Errorf("%d numbered cells in the diff", n)
	}
	b.Screenshot("diff")

	// The plan names the field; the sync puts Git's value back, as admin.
	b.Navigate(fmt.Sprintf("/#/apps/%s/prod-api", f.ns))
	b.Click(".plan button")
	b.WaitVisible(".plan button.primary")
	if plan := b.Text(".plan"); !strings.Contains(plan, "Deployment/"+f.ns+"/api") || !strings.Contains(plan, "limits.memory") {
		t.Errorf("the plan reads %q", plan)
	}
	b.Click(".plan button.primary")
	recs := f.waitRecords(t, "prod-api", 3, audit.EventSync)
	if last := recs[len(recs)-1]; last.Actor != auth.AdminAccount || last.Revision != raise || last.Result != audit.Succeeded {
		t.Errorf("the sync's record: %+v", last)
	}
	eventually(t, 30*time.Second, "the page shows the Application Synced", func(context.Context) (bool, error) {
		return strings.Contains(b.Text(".summary h1"), "Synced"), nil
	})
	b.Navigate(resourcePage(f.ns, "prod-api", "apps", "Deployment", "api"))
	b.WaitVisible("#blame-h + table")
	if row := b.Text(fmt.Sprintf(`#blame-h + table tr[data-field=%q]`, memory)); !strings.Contains(row, "512Mi") || strings.Contains(row, "differs") {
		t.Errorf("after the sync, blame of the limit reads %q", row)
	}

	// A commit pushed and not yet applied: its diff is there before the sync.
	f.commit(t, "A bigger cache", map[string]string{"prod/cm.yaml": cm("256")})
	b.Navigate(resourcePage(f.ns, "prod-api", "", "ConfigMap", "api-settings") + "&desired=true")
	b.WaitVisible("table.diff")
	if diff := strings.Join(b.Texts("table.diff tbody tr"), "\n"); !strings.Contains(diff, "CACHE_MB: \"64\"") || !strings.Contains(diff, "CACHE_MB: \"256\"") {
		t.Errorf("the diff of the pushed commit:\n%s", diff)
	}
	if n := b.Count(".actions button"); n != 0 {
		t.Errorf("a ConfigMap offers %d actions", n)
	}

	// Restart, asked twice, acts as kubectl rollout restart and is recorded
	// with who asked.
	b.Navigate(resourcePage(f.ns, "prod-api", "apps", "Deployment", "api"))
	b.Click(".actions button")
	b.Click(".actions button.primary")
	acts := f.waitRecords(t, "prod-api", 1, audit.EventAction)
	if acts[0].Actor != auth.AdminAccount || !strings.Contains(acts[0].Message, "restart Deployment.apps/"+f.ns+"/api") {
		t.Errorf("the restart's record: %+v", acts[0])
	}
	eventually(t, 10*time.Second, "the pod template restarted", func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "api"}, d)
		return err == nil && d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "", err
	})
}

// Drift on an Application with self-heal shows on the open overview as it
// happens, without a reload, and the Application's history names it.
func TestADriftRevertedShowsLiveInTheBrowser(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "web", map[string]string{"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info")})
	f.create(t, f.application("web", "app", selfHeal))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	b := logInAsAdmin(t, f, "/#/?namespace="+f.ns)
	row := fmt.Sprintf(`tr[data-app="%s/web"]`, f.ns)
	b.WaitVisible(row)
	if text := b.Text(row); strings.Contains(text, "drift reverted") {
		t.Fatalf("drift before any: %q", text)
	}
	f.scale(t, "web", 5, "kubectl-scale")
	f.waitReplicas(t, "web", 1, 10*time.Second)
	eventually(t, 15*time.Second, "the open overview shows the drift reverted", func(context.Context) (bool, error) {
		text := b.Text(row)
		return strings.Contains(text, "drift reverted"), fmt.Errorf("the row reads %q", text)
	})
	// (The row is redrawn by live updates: open the page by its address.)
	b.Navigate(fmt.Sprintf("/#/apps/%s/web", f.ns))
	b.WaitVisible("#history-h + table")
	if newest := b.Text("#history-h + table tbody tr"); !strings.Contains(newest, v1.TriggerDrift) || !strings.Contains(newest, rev[:12]) {
		t.Errorf("the newest history row reads %q", newest)
	}

	// Blame: replicas are Git's again, and the hand change is still told.
	b.Navigate(resourcePage(f.ns, "web", "apps", "Deployment", "web"))
	b.WaitVisible("#blame-h + table")
	replicas := b.Text(`#blame-h + table tr[data-field="spec.replicas"]`)
	if !strings.Contains(replicas, "changed by kubectl-scale") || !strings.Contains(replicas, "reverted (drift record #") || strings.Contains(replicas, "differs") {
		t.Errorf("blame of the replicas reads %q", replicas)
	}
}
