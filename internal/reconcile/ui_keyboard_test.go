package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
)

// An operator who uses no mouse logs in, finds an Application, reads the
// sync plan, syncs, opens an object of the tree, the audit ledger and the
// Projects, and logs out, with Tab, Enter and Space alone; every page names
// each control, labels each field and outlines itself with headings, and
// every stop of the keyboard shows where it is.
func TestAnOperatorUsesOnlyTheKeyboard(t *testing.T) {
	f, first := manualWebApp(t)

	b := browser.New(t, shared.apiURL, browser.ExpectStatus(401, "/api/v1/session"))
	b.Navigate("/")
	b.WaitVisible("#username")
	if got := b.Focused(); got.Selector != "input#username" {
		t.Errorf("the login page opens with the focus on %v, want the account field", got)
	}
	b.CheckAccessible("the login page")
	b.Press(auth.AdminAccount)
	b.Tab()
	b.Press(initialAdmin(t, f.c))
	b.Press(kb.Enter)
	b.WaitVisible("table.apps")
	b.CheckAccessible("the overview")
	visibleStops(t, b, "the overview")

	// Filter by the test's namespace, then open the Application.
	b.TabTo(`input[name="namespace"]`)
	b.Press(f.ns + kb.Enter)
	row := fmt.Sprintf(`tr[data-app="%s/web"]`, f.ns)
	filteredTo(t, b, row)
	b.TabTo(row + " a")
	b.Press(kb.Enter)
	b.WaitVisible(".summary h1")
	b.WaitVisible("#tree-h")
	b.WaitVisible("#history-h")
	b.CheckAccessible("the Application page")
	visibleStops(t, b, "the Application page")

	// The plan, a step of it opened, and the sync of exactly that commit.
	b.TabTo(".plan button")
	b.Press(kb.Enter)
	b.WaitVisible(".plan button.primary")
	if got := b.Focused(); got.Selector != "h2#plan-h" {
		t.Errorf("after Enter on Preview the focus is on %v, want the plan's heading", got)
	}
	b.TabTo(".plan details summary")
	b.Press(kb.Enter)
	if !browser.Evaluate[bool](b, `document.activeElement.parentElement.open`) {
		t.Error("Enter on a step of the plan did not open it")
	}
	b.CheckAccessible("the sync plan")
	// Switching the diff's layout keeps the focus on the switch.
	b.TabTo(`.plan .diff-mode button[aria-pressed="false"]`)
	b.Press(kb.Enter)
	if got := b.Focused(); !strings.Contains(got.HTML, `aria-pressed="true"`) {
		t.Errorf("after switching the diff's layout the focus is on %v", got)
	}
	b.TabTo(".plan button.primary")
	b.Press(" ")
	recs := f.waitRecords(t, "web", 1, audit.EventSync)
	if recs[0].Actor != auth.AdminAccount || recs[0].Revision != first {
		t.Errorf("the sync's record: %+v", recs[0])
	}
	eventually(t, 30*time.Second, "the page shows the Application Synced", func(context.Context) (bool, error) {
		return strings.Contains(b.Text(".summary h1"), "Synced"), nil
	})

	// An object of the tree.
	cm := `.tree a[href*="kind=ConfigMap"]`
	b.WaitVisible(cm)
	b.TabTo(cm)
	b.Press(kb.Enter)
	b.WaitVisible("main h1")
	b.WaitVisible("#blame-h")
	b.CheckAccessible("a resource page")

	// The ledger and the Projects, from the header.
	b.TabTo(`#nav a[href="#/audit"]`)
	b.Press(kb.Enter)
	b.WaitVisible("main table")
	b.CheckAccessible("the audit page")
	b.TabTo(`#nav a[href="#/projects"]`)
	b.Press(kb.Enter)
	eventually(t, 10*time.Second, "the Projects page", func(context.Context) (bool, error) {
		// In one evaluation: the page may redraw between a query and a read.
		h1 := b.Texts("main h1")
		return len(h1) == 1 && h1[0] == "Projects", nil
	})
	b.CheckAccessible("the Projects page")

	b.TabTo("#who button")
	b.Press(kb.Enter)
	b.WaitVisible("#username")
}

// visibleStops walks every stop of the keyboard on the page once, from the
// first, and fails the test for each that does not show the focus.
func visibleStops(t *testing.T, b *browser.Browser, page string) {
	t.Helper()
	b.TabTo("a.brand") // the first stop of every page
	start := b.Focused()
	for range browser.MaxTabs {
		f := b.Focused()
		if f.Selector != "body" && !f.Visible { // body: between the last stop and the first
			t.Errorf("%s: the focus on %s does not show", page, f)
		}
		b.Tab()
		if f := b.Focused(); f.HTML == start.HTML {
			return
		}
	}
	t.Errorf("%s: Tab did not come back to %s", page, start)
}
