package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Basic accessibility: every control has a name, every form field a label, the
// keyboard reaches everything in document order, and the headings outline the
// page. The names are the browser's own (Chromium's accessibility tree, the
// names a screen reader reads), not a re-implementation of the naming rules;
// the rest are plain DOM checks.

// A11yRule is a rule of CheckAccessible.
type A11yRule int

// The rules CheckAccessible enforces.
const (
	// Unnamed is an interactive control (a button, a link, a summary, a
	// focusable element) that the browser gives no accessible name: a screen
	// reader says "button" and nothing more. A placeholder does not count.
	Unnamed A11yRule = iota
	// Unlabelled is a form field (a text box, a select, a checkbox) without a
	// label: no <label>, aria-label or aria-labelledby. A placeholder goes away
	// as one types and a title shows only to a mouse, so neither counts.
	Unlabelled
	// PositiveTabindex is a tabindex above 0: it takes the element out of the
	// document's order for the keyboard.
	PositiveTabindex
	// ImageWithoutAlt is an <img> without an alt attribute (alt="" marks one
	// that is decoration).
	ImageWithoutAlt
	// DuplicateID is an id that more than one element has: a label or an
	// aria-labelledby pointing at it names the wrong element.
	DuplicateID
	// NotOneH1 is a page with no visible level-1 heading or with more than one.
	NotOneH1
	// SkippedHeading is a heading more than one level below the heading before
	// it (an h3 after an h1), or a first heading that is not an h1.
	SkippedHeading
	// EmptyHeader is a table's header cell with no text: a screen reader
	// reads each cell of its column with no name for it.
	EmptyHeader
	// NoTitleOrLanguage is a document without a title or without a lang on
	// <html>: the first thing a screen reader says, and how it pronounces it.
	NoTitleOrLanguage
)

func (r A11yRule) String() string {
	switch r {
	case Unnamed:
		return "control without a name"
	case Unlabelled:
		return "form field without a label"
	case PositiveTabindex:
		return "positive tabindex"
	case ImageWithoutAlt:
		return "image without alt"
	case DuplicateID:
		return "duplicate id"
	case NotOneH1:
		return "not exactly one h1"
	case SkippedHeading:
		return "heading skips a level"
	case EmptyHeader:
		return "empty table header"
	case NoTitleOrLanguage:
		return "no title or language"
	}
	return fmt.Sprintf("A11yRule(%d)", int(r))
}

// A11yFinding is one element (or the page) breaking one rule.
type A11yFinding struct {
	Rule A11yRule
	// Selector is a short CSS selector of the element (tag#id, or the tag
	// with its classes and a few attributes); empty for the page itself.
	Selector string
	// HTML is the start of the element's outerHTML.
	HTML string
	// Detail says more: the name a field has only from its placeholder, how
	// many elements share an id, which level a heading follows.
	Detail string
}

func (f A11yFinding) String() string {
	s := f.Rule.String()
	if f.Selector != "" {
		s += ": " + f.Selector
	}
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	if f.HTML != "" {
		s += " " + f.HTML
	}
	return s
}

// CheckAccessible fails the test (and goes on) when the current document
// breaks a rule of A11yRule, naming each offender; page names the page in the
// message ("the overview"). Run it once the page shows what it is for: a page
// still loading may have no h1 yet.
//
// Hidden elements (display:none, hidden, aria-hidden, inert) are left out of
// the rules about names and headings: no one reaches them. An element with
// tabindex="-1" and no role of a control is a target for the page's own focus
// calls (a main area the page focuses after a navigation), not a control.
func (b *Browser) CheckAccessible(page string) {
	b.t.Helper()
	fs := b.A11yFindings()
	if len(fs) == 0 {
		return
	}
	var s strings.Builder
	fmt.Fprintf(&s, "browser: %s breaks %d rule(s) of basic accessibility:", page, len(fs))
	for _, f := range fs {
		s.WriteString("\n\t")
		s.WriteString(f.String())
	}
	b.t.Errorf("%s", s.String())
}

// A11yFindings returns what CheckAccessible would fail the test for, the
// controls in document order first, then the rest.
func (b *Browser) A11yFindings() []A11yFinding {
	b.t.Helper()
	controls, ok := run(b, "checking the names of the page's controls", controlFindings)
	if !ok {
		return nil
	}
	raw, ok := run(b, "checking the page's structure", chromedp.Evaluate[[]rawFinding](structureScript))
	if !ok {
		return nil
	}
	fs := controls
	for _, r := range raw {
		fs = append(fs, r.finding())
	}
	return fs
}

// describeScript describes an element in a failure message: a short selector
// and the start of its outerHTML.
const describeScript = `function (e) {
	let sel = e.localName;
	if (e.id) {
		sel += '#' + CSS.escape(e.id);
	} else {
		for (const c of e.classList) sel += '.' + CSS.escape(c);
		for (const a of ['name', 'type', 'role', 'href', 'for']) {
			if (e.hasAttribute(a)) sel += '[' + a + '=' + JSON.stringify(e.getAttribute(a).slice(0, 40)) + ']';
		}
	}
	let html = e.outerHTML.replace(/\s+/g, ' ');
	if (html.length > 160) html = html.slice(0, 159) + '…';
	return {sel, html};
}`

// controlsScript lists the page's interactive controls, in document order.
const controlsScript = `(() => {
	const controls = 'button, a[href], input:not([type=hidden]), select, textarea, summary, ' +
		['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'option', 'textbox',
		 'searchbox', 'combobox', 'slider', 'spinbutton', 'treeitem'].map(r => '[role=' + r + ']').join(', ');
	return Array.from(document.querySelectorAll(controls + ', [tabindex]'))
		.filter(e => e.matches(controls) || e.tabIndex >= 0);
})()`

// fieldRoles are the roles of form fields, which need a label, not any name.
var fieldRoles = map[string]bool{
	"textbox": true, "searchbox": true, "combobox": true, "listbox": true, "checkbox": true,
	"radio": true, "switch": true, "slider": true, "spinbutton": true,
}

// a11yGroup holds the remote objects controlFindings makes, released at its end.
const a11yGroup = "lockstep-a11y"

// controlFindings asks the browser for the accessible name of each control
// (Accessibility.getPartialAXTree) and judges it.
func controlFindings(ctx context.Context, t *chromedp.Target) ([]A11yFinding, error) {
	defer func() {
		_, _ = cdp.Call(ctx, t, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: a11yGroup})
	}()
	list, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: controlsScript, ObjectGroup: a11yGroup})
	if err != nil {
		return nil, err
	}
	if list.ExceptionDetails != nil {
		return nil, &chromedp.ExceptionError{ExceptionDetails: list.ExceptionDetails}
	}
	own := true
	props, err := cdp.Call(ctx, t, runtime.GetProperties, runtime.GetPropertiesParams{ObjectID: list.Result.ObjectID, OwnProperties: &own})
	if err != nil {
		return nil, err
	}
	var els []*runtime.RemoteObject
	for _, p := range props.Result {
		if _, err := strconv.Atoi(p.Name); err == nil && p.Value != nil && p.Value.ObjectID != "" {
			els = append(els, p.Value)
		}
	}
	var fs []A11yFinding
	relatives := false
	for _, el := range els {
		ax, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: el.ObjectID, FetchRelatives: &relatives})
		if err != nil {
			return nil, err
		}
		if len(ax.Nodes) == 0 || ax.Nodes[0].Ignored {
			continue // not rendered, or hidden from assistive technology
		}
		f, bad := judgeName(ax.Nodes[0])
		if !bad {
			continue
		}
		d, err := chromedp.CallFunctionOn[description]("function () { return ("+describeScript+")(this); }", func(p *runtime.CallFunctionOnParams) { p.ObjectID = el.ObjectID })(ctx, t)
		if err != nil {
			return nil, err
		}
		f.Selector, f.HTML = d.Sel, d.HTML
		fs = append(fs, f)
	}
	return fs, nil
}

// judgeName applies Unnamed and Unlabelled to a control's node of the
// accessibility tree.
func judgeName(n *accessibility.Node) (A11yFinding, bool) {
	role := axString(n.Role)
	name := strings.TrimSpace(axString(n.Name))
	src := nameSource(n.Name)
	field := fieldRoles[role]
	switch {
	case name == "" && field:
		return A11yFinding{Rule: Unlabelled, Detail: role + " with no name at all"}, true
	case name == "":
		return A11yFinding{Rule: Unnamed, Detail: role}, true
	case src != nil && src.Type == accessibility.ValueSourceTypePlaceholder:
		rule := Unnamed
		if field {
			rule = Unlabelled
		}
		return A11yFinding{Rule: rule, Detail: fmt.Sprintf("%s named only by its placeholder %q", role, name)}, true
	case field && src != nil && !isLabel(src):
		return A11yFinding{Rule: Unlabelled, Detail: fmt.Sprintf("%s named only by its %s %q", role, src.Attribute, name)}, true
	}
	return A11yFinding{}, false
}

// nameSource returns where the browser took a name from: the first source
// with a value that no other overrides.
func nameSource(v *accessibility.Value) *accessibility.ValueSource {
	if v == nil {
		return nil
	}
	for _, s := range v.Sources {
		if !s.Superseded && strings.TrimSpace(axString(s.Value)) != "" {
			return s
		}
	}
	return nil
}

// isLabel reports whether a name source is a label: a <label> element,
// aria-labelledby or aria-label.
func isLabel(s *accessibility.ValueSource) bool {
	switch s.Type {
	case accessibility.ValueSourceTypeRelatedElement:
		return true
	case accessibility.ValueSourceTypeAttribute:
		return s.Attribute == "aria-label"
	}
	return false
}

// axString returns a value of the accessibility tree as a string ("" when it
// is not one).
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return ""
	}
	return s
}

type description struct {
	Sel  string `json:"sel"`
	HTML string `json:"html"`
}

// structureScript applies the rules that need no names: tabindex, alt, ids,
// headings, table headers, title and language.
const structureScript = `(() => {
	const describe = ` + describeScript + `;
	const out = [];
	const add = (rule, e, detail) => out.push(Object.assign({rule, detail}, e ? describe(e) : {}));
	for (const e of document.querySelectorAll('[tabindex]')) {
		if (parseInt(e.getAttribute('tabindex'), 10) > 0) add('tabindex', e, 'tabindex=' + e.getAttribute('tabindex'));
	}
	for (const e of document.querySelectorAll('img:not([alt])')) add('alt', e, '');
	const ids = new Map();
	for (const e of document.querySelectorAll('[id]')) {
		if (!ids.has(e.id)) ids.set(e.id, []);
		ids.get(e.id).push(e);
	}
	for (const [id, es] of ids) if (es.length > 1) add('id', es[1], es.length + ' elements have id ' + JSON.stringify(id));
	const shown = e => e.checkVisibility() && !e.closest('[aria-hidden=true], [inert]');
	const level = e => e.hasAttribute('aria-level') ? parseInt(e.getAttribute('aria-level'), 10)
		: /^h[1-6]$/.test(e.localName) ? Number(e.localName[1]) : 2;
	const hs = Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')).filter(shown);
	const ones = hs.filter(e => level(e) === 1);
	if (ones.length !== 1) add('h1', ones[1] || null, ones.length + ' level-1 headings');
	let prev = 0;
	for (const e of hs) {
		const l = level(e);
		if (l > prev + 1) add('skip', e, prev ? 'h' + l + ' after h' + prev : 'the first heading is h' + l);
		prev = l;
	}
	for (const e of document.querySelectorAll('th, [role=columnheader], [role=rowheader]')) {
		if (shown(e) && !e.textContent.trim() && !e.getAttribute('aria-label')) add('th', e, '');
	}
	if (!document.title.trim()) add('title', null, 'no <title>');
	if (!document.documentElement.lang) add('title', null, 'no lang on <html>');
	return out;
})()`

// rawFinding is a finding of structureScript.
type rawFinding struct {
	Rule   string `json:"rule"`
	Sel    string `json:"sel"`
	HTML   string `json:"html"`
	Detail string `json:"detail"`
}

var structureRules = map[string]A11yRule{
	"tabindex": PositiveTabindex, "alt": ImageWithoutAlt, "id": DuplicateID,
	"h1": NotOneH1, "skip": SkippedHeading, "th": EmptyHeader, "title": NoTitleOrLanguage,
}

func (r rawFinding) finding() A11yFinding {
	return A11yFinding{Rule: structureRules[r.Rule], Selector: r.Sel, HTML: r.HTML, Detail: r.Detail}
}
