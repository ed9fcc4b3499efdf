package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Selectors are CSS selectors; an action on a selector that matches several
// elements acts on the first.

// do runs actions within the Browser's timeout, fails the test if one fails (with
// the problems the guard found, often the cause), then checks the guard.
func (b *Browser) do(what string, actions ...chromedp.Action[chromedp.Void]) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
		return false
	}
	b.Check()
	return true
}

// run is do for one action with a value.
func run[T any](b *Browser, what string, action chromedp.Action[T]) (T, bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.fail(what, err)
		return v, false
	}
	b.Check()
	return v, true
}

func (b *Browser) fail(what string, err error) {
	b.t.Helper()
	msg := fmt.Sprintf("browser: %s: %v", what, err)
	b.flush()
	if ps := b.guard.take(); len(ps) > 0 {
		msg += "\n" + report(ps)
	}
	b.t.Fatalf("%s", msg)
}

// Navigate loads ref (a path resolved against the server, or an absolute URL) and
// waits for its load event.
func (b *Browser) Navigate(ref string) {
	b.t.Helper()
	u := b.URL(ref)
	b.do("navigating to "+u, chromedp.Navigate(u))
}

// WaitVisible waits until an element matching sel is in the page and visible.
func (b *Browser) WaitVisible(sel string) {
	b.t.Helper()
	b.do("waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitGone waits until no element matches sel.
func (b *Browser) WaitGone(sel string) {
	b.t.Helper()
	b.do("waiting for "+sel+" to go", chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

// Click waits for an element matching sel to be visible and clicks its centre
// with the mouse.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Type focuses the element matching sel and types text into it, key by key (a
// "\n" is the Enter key); what the field held stays.
func (b *Browser) Type(sel, text string) {
	b.t.Helper()
	b.do("typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// Clear empties the input or textarea matching sel as a user would, selecting its
// text and deleting it, so the page sees an input event. (chromedp.Clear only
// resets the value attribute, which a field typed into no longer shows.)
func (b *Browser) Clear(sel string) {
	b.t.Helper()
	b.do("clearing "+sel,
		chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`),
		chromedp.KeyEvent(kb.Backspace))
}

// Press sends keys to whatever has the focus, for keyboard navigation: kb.Tab,
// kb.Enter, kb.Escape, kb.ArrowDown from github.com/chromedp/chromedp/kb, or text.
func (b *Browser) Press(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("pressing %q", keys), chromedp.KeyEvent(keys))
}

// Text returns the visible text of the element matching sel (innerText), once it
// is visible. It is read in one evaluation, by selector: a live page may
// redraw the element between finding it and reading it (the node found first
// is then gone), so a vanished element is looked up again.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	read := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? [e.innerText] : []; })()`, q)
	for range 100 {
		b.WaitVisible(sel)
		if got := Evaluate[[]string](b, read); len(got) == 1 {
			return got[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("browser: %s kept vanishing before its text could be read", sel)
	return ""
}

// Texts returns the visible text of every element matching sel, in document
// order, without waiting: none is an empty list.
func (b *Browser) Texts(sel string) []string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return Evaluate[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.innerText)`, q))
}

// Attribute returns the attribute name of the element matching sel, "" when it has
// none.
func (b *Browser) Attribute(sel, name string) string {
	b.t.Helper()
	r, _ := run(b, "reading "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name))
	return r.Value
}

// Count returns how many elements match sel now.
func (b *Browser) Count(sel string) int {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return Evaluate[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, q))
}

// Location returns the page's URL.
func (b *Browser) Location() string {
	b.t.Helper()
	s, _ := run(b, "reading the location", chromedp.Location())
	return s
}

// Evaluate runs a JavaScript expression in the page and decodes its value into T
// (a promise is awaited). The page's Content-Security-Policy does not apply to it.
func Evaluate[T any](b *Browser, expr string) T {
	b.t.Helper()
	v, _ := run(b, "evaluating "+expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	return v
}

// Screenshot saves a full-page PNG as name.png in the test's artifacts folder and
// returns its path (see ArtifactsEnv for where that is and how long it stays).
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	path, err := b.saveScreenshot(name)
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	b.t.Logf("browser: screenshot %s", path)
	return path
}

func (b *Browser) saveScreenshot(name string) (string, error) {
	path, err := b.art.path(unsafeName.ReplaceAllString(name, "_") + ".png")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, png, 0o644)
}
