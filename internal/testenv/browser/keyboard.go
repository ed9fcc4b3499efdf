package browser

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Keyboard navigation: a test walks the page as a keyboard user does, with Tab
// and Shift+Tab, and presses Enter or Space (Press) on what has the focus.

// MaxTabs bounds how many times TabTo presses Tab before it gives up.
const MaxTabs = 200

// Focus is the element that has the keyboard focus.
type Focus struct {
	// Selector is a short CSS selector of the element, as in A11yFinding;
	// "body" when nothing in particular has the focus.
	Selector string
	// HTML is the start of its outerHTML.
	HTML string
	// Role and Name are the element's accessibility role and name, as the
	// browser computes them for a screen reader.
	Role, Name string
	// Visible reports whether the focus shows: the element has an outline or
	// a box-shadow while focused.
	Visible bool
}

func (f Focus) String() string {
	return fmt.Sprintf("%s %q (%s)", f.Role, f.Name, f.Selector)
}

// Tab presses Tab: the focus moves to the next control.
func (b *Browser) Tab() {
	b.t.Helper()
	b.Press(kb.Tab)
}

// ShiftTab presses Shift+Tab: the focus moves to the previous control.
func (b *Browser) ShiftTab() {
	b.t.Helper()
	b.do("pressing Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
}

// Focused returns the element that has the focus.
func (b *Browser) Focused() Focus {
	b.t.Helper()
	f, _ := run(b, "reading what has the focus", focused)
	return f
}

// TabTo presses Tab until the element with the focus matches sel, and
// returns how many times it pressed (0 when it had the focus already). It
// fails the test when MaxTabs presses do not get there: the keyboard cannot
// reach sel, or only after more stops than anyone would press.
func (b *Browser) TabTo(sel string) int {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	match := fmt.Sprintf(`(() => { const e = document.activeElement; return !!e && e.matches(%s); })()`, q)
	for n := 0; n <= MaxTabs; n++ {
		if Evaluate[bool](b, match) {
			return n
		}
		if n < MaxTabs {
			b.Tab()
		}
	}
	b.t.Fatalf("browser: %d presses of Tab did not reach %s; the focus is on %s", MaxTabs, sel, b.Focused())
	return MaxTabs
}

type focusDescription struct {
	Sel     string `json:"sel"`
	HTML    string `json:"html"`
	Visible bool   `json:"visible"`
}

// focusScript describes document.activeElement.
const focusScript = `(() => {
	const e = document.activeElement || document.body;
	const cs = getComputedStyle(e);
	const visible = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none';
	return Object.assign({visible}, (` + describeScript + `)(e));
})()`

func focused(ctx context.Context, t *chromedp.Target) (Focus, error) {
	defer func() {
		_, _ = cdp.Call(ctx, t, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: a11yGroup})
	}()
	d, err := chromedp.Evaluate[focusDescription](focusScript)(ctx, t)
	if err != nil {
		return Focus{}, err
	}
	f := Focus{Selector: d.Sel, HTML: d.HTML, Visible: d.Visible}
	el, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: "document.activeElement || document.body", ObjectGroup: a11yGroup})
	if err != nil {
		return Focus{}, err
	}
	if el.Result == nil || el.Result.ObjectID == "" {
		return f, nil
	}
	relatives := false
	ax, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: el.Result.ObjectID, FetchRelatives: &relatives})
	if err != nil {
		return Focus{}, err
	}
	if len(ax.Nodes) > 0 {
		f.Role, f.Name = axString(ax.Nodes[0].Role), axString(ax.Nodes[0].Name)
	}
	return f, nil
}
