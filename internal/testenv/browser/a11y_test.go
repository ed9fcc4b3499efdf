package browser

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAPageWithEveryControlNamedIsAccessible(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/a11y-ok.html")
	if fs := b.A11yFindings(); len(fs) != 0 {
		t.Errorf("findings on a page that follows the rules:\n%v", fs)
	}
	b.CheckAccessible("the good page")
}

func TestA11yFindingsNameEachOffender(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/a11y-bad.html")
	type finding struct {
		Rule     A11yRule
		Selector string
	}
	var got []finding
	for _, f := range b.A11yFindings() {
		got = append(got, finding{f.Rule, f.Selector})
		if f.Selector != "" && !strings.HasPrefix(f.HTML, "<") {
			t.Errorf("%v: no HTML to show", f)
		}
	}
	want := []finding{
		// The controls, in document order, by the browser's names.
		{Unnamed, "button#icon"},
		{Unnamed, `a.empty[href="#next"]`},
		{Unlabelled, `input[name="q"]`},
		{Unlabelled, `input[name="t"]`},
		{Unlabelled, `select[name="s"]`},
		{Unnamed, "div.card"},
		// Then the page's structure.
		{PositiveTabindex, "button[type=\"button\"]"},
		{ImageWithoutAlt, "img.logo"},
		{DuplicateID, "p#dup"},
		{NotOneH1, "h1.again"},
		{SkippedHeading, "h3.deep"},
		{EmptyHeader, `th.flags`},
		{NoTitleOrLanguage, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestCheckAccessibleFailsTheTestWithTheOffenders(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	r, b := newRecorded(t, srv.URL)
	b.Navigate("/a11y-bad.html")
	b.CheckAccessible("the bad page")
	failures, _ := r.recorded()
	if len(failures) != 1 {
		t.Fatalf("failures = %q, want one", failures)
	}
	for _, want := range []string{
		"browser: the bad page breaks 13 rule(s) of basic accessibility:",
		"\n\tcontrol without a name: button#icon (button) <button id=\"icon\" type=\"button\"></button>",
		"\n\tform field without a label: input[name=\"q\"] (textbox named only by its placeholder \"Search\")",
		"\n\tform field without a label: input[name=\"t\"] (textbox named only by its title \"Only a tooltip\")",
		"\n\tduplicate id: p#dup (2 elements have id \"dup\")",
		"\n\theading skips a level: h3.deep (h3 after h1)",
	} {
		if !strings.Contains(failures[0], want) {
			t.Errorf("the failure does not say %q:\n%s", want, failures[0])
		}
	}
}

// newRecorded opens a Browser whose failures are recorded in r, not
// reported, for a test that provokes them; it leaves no screenshot behind.
func newRecorded(t *testing.T, base string) (*recorder, *Browser) {
	r := &recorder{TB: t}
	var b *Browser
	// Registered before New, so it runs after the Browser's own cleanup: the
	// recorded failure must not leave a screenshot folder behind in /tmp.
	t.Cleanup(func() { _ = os.RemoveAll(b.art.dir) })
	b = New(r, base)
	return r, b
}
