package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
)

// manualWebApp is an Application "web" of one ConfigMap, without automated
// sync, OutOfSync at its first commit (returned).
func manualWebApp(t *testing.T) (*repoFixture, string) {
	t.Helper()
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", func(a *v1.Application) { a.Spec.Sync.Automated = ptr.To(false) }))
	f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonOutOfSync, first)
	return f, first
}

// An operator in a real browser logs in, finds an Application by its
// filter, reads what a sync would do, syncs exactly that, and logs out;
// against the real controller, control plane and Git server.
func TestAnOperatorSyncsInTheBrowser(t *testing.T) {
	f, first := manualWebApp(t)

	// The page asks who is logged in before anyone is: that 401 is expected.
	b := logInAsAdmin(t, f, "/")
	b.WaitVisible("table.apps")

	// Filter by the test's namespace: one row, OutOfSync.
	b.Type(`input[name="namespace"]`, f.ns)
	b.Click("form.filters button[type=submit]")
	row := fmt.Sprintf(`tr[data-app="%s/web"]`, f.ns)
	filteredTo(t, b, row)
	if text := b.Text(row); !strings.Contains(text, "OutOfSync") || !strings.Contains(text, first[:12]) {
		t.Errorf("the row reads %q", text)
	}
	b.Screenshot("overview") // kept with LOCKSTEP_TEST_ARTIFACTS: docs/ui.md's pictures

	// The plan before the button, then the sync of exactly that commit.
	// A live update may redraw the row as it is clicked: click until the
	// Application's page opens.
	eventually(t, 10*time.Second, "the Application's page opens from its row", func(context.Context) (bool, error) {
		if !strings.Contains(b.Location(), "#/apps/") {
			b.Click(row + " a")
		}
		return strings.Contains(b.Location(), "#/apps/"), nil
	})
	b.WaitVisible(".summary h1")
	b.Click(".plan button")
	b.WaitVisible(".plan button.primary")
	if plan := b.Text(".plan"); !strings.Contains(plan, "1 Create") || !strings.Contains(plan, "ConfigMap/"+f.ns+"/settings") {
		t.Errorf("the plan reads %q", plan)
	}
	b.Click(".plan details summary")
	b.Screenshot("sync-plan")
	b.Click(".plan button.primary")
	recs := f.waitRecords(t, "web", 1, audit.EventSync)
	if recs[0].Actor != auth.AdminAccount || recs[0].Revision != first || recs[0].Result != audit.Succeeded {
		t.Errorf("the sync's record: %+v", recs[0])
	}
	eventually(t, 30*time.Second, "the page shows the Application Synced", func(context.Context) (bool, error) {
		return strings.Contains(b.Text(".summary h1"), "Synced"), nil
	})

	// The history shows the sync and who asked (after a reload, as a new
	// visitor would see it); logging out ends the session.
	b.Navigate(fmt.Sprintf("/?again#/apps/%s/web", f.ns))
	b.WaitVisible("#history-h")
	if history := b.Text("#history-h + table"); !strings.Contains(history, "Manual") || !strings.Contains(history, auth.AdminAccount) {
		t.Errorf("the history reads %q", history)
	}
	b.Screenshot("application")
	b.Click(`button.link`)
	b.WaitVisible("#username")
}

// A read-only account sees the Application in the browser but is offered no
// action and no Sync button.
func TestAViewerIsOfferedNoActionInTheBrowser(t *testing.T) {
	f, _ := manualWebApp(t)
	viewer := "ui-viewer-" + f.ns[len(f.ns)-6:]
	if err := adminClient(t, f.c).CreateAccount(testenv.Context(t), viewer, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	grantReadOnly(t, f.c, viewer)

	// The last step ends the session on purpose: the page's next call is refused.
	b := browser.New(t, shared.apiURL, browser.ExpectStatus(401, "/api/v1/session", fmt.Sprintf("/api/v1/applications/%s/web", f.ns)))
	b.Navigate(fmt.Sprintf("/#/apps/%s/web", f.ns))
	b.WaitVisible("#username")
	b.Type("#username", viewer)
	b.Type("#password", "a long enough password")
	b.Click("form.login button[type=submit]")
	b.WaitVisible(".summary h1")
	if n := b.Count(".actions button"); n != 0 {
		t.Errorf("a viewer is offered %d actions", n)
	}
	b.Click(".plan button")
	b.WaitVisible(".plan .verdicts")
	if n := b.Count(".plan button.primary"); n != 0 {
		t.Error("a viewer is offered the Sync button")
	}

	// A hand-made address with a broken escape is not found, not a stuck page.
	b.Navigate("/#/apps/%E0/x")
	eventually(t, 10*time.Second, "a page saying Not found", func(context.Context) (bool, error) {
		return b.Count("main h1") == 1 && b.Text("main h1") == "Not found", nil
	})

	// The session ends (here: on the server, as when it expires): the next
	// call lands on the login page, which says why.
	browser.Evaluate[any](b, `fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin" }).then(() => null)`)
	b.Navigate(fmt.Sprintf("/#/apps/%s/web", f.ns))
	b.WaitVisible("#username")
	if msg := b.Text("form.login [role=alert]"); !strings.Contains(msg, "session has ended") {
		t.Errorf("the login page after the session ended says %q", msg)
	}
}

// filteredTo waits until the overview shows the one row a filter asked for
// (the list before the filter may show that row too, among others).
func filteredTo(t *testing.T, b *browser.Browser, row string) {
	t.Helper()
	eventually(t, 10*time.Second, "the filter leaves one row", func(context.Context) (bool, error) {
		n := b.Count("table.apps tbody tr")
		return n == 1 && b.Count(row) == 1, fmt.Errorf("%d rows", n)
	})
}
