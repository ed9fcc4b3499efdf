package browser

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

func TestWalkingThePageWithTheKeyboard(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/keyboard.html")
	if f := b.Focused(); f.Selector != "input#first" || f.Role != "textbox" || f.Name != "First" {
		t.Errorf("after the load, the focus is on %v, want the First field", f)
	}
	b.Press("ab")
	b.Tab()
	if f := b.Focused(); f.Selector != "a#link" || f.Role != "link" || f.Name != "Move" || !f.Visible {
		t.Errorf("after Tab, the focus is on %+v, want the link Move, visibly", f)
	}
	b.Tab()
	if f := b.Focused(); f.Selector != "button#plain" || f.Visible {
		t.Errorf("after Tab, the focus is on %+v, want the button without an outline", f)
	}
	b.ShiftTab()
	if f := b.Focused(); f.Selector != "a#link" {
		t.Errorf("after Shift+Tab, the focus is on %v, want the link back", f)
	}
	b.Press(kb.Enter)
	if got := b.Location(); got != b.URL("/keyboard.html#moved") {
		t.Errorf("Enter on the link led to %s", got)
	}

	if n := b.TabTo("#check"); n != 2 {
		t.Errorf("TabTo(#check) pressed Tab %d times, want 2", n)
	}
	if f := b.Focused(); f.Role != "checkbox" || f.Name != "Agree" {
		t.Errorf("on the checkbox, the focus is on %v", f)
	}
	b.Press(" ")
	if !Evaluate[bool](b, `document.getElementById('check').checked`) {
		t.Error("Space did not tick the checkbox")
	}
	if n := b.TabTo("#last"); n != 1 {
		t.Errorf("TabTo(#last) pressed Tab %d times, want 1", n)
	}
	b.Press(kb.Enter)
	if got := b.Text("#out"); got != "pressed" {
		t.Errorf("Enter on the button: #out = %q", got)
	}
	if got := Evaluate[string](b, `document.getElementById('first').value`); got != "ab" {
		t.Errorf("typed into the first field: %q", got)
	}
	if n := b.TabTo("#last"); n != 0 {
		t.Errorf("TabTo the element that has the focus pressed %d times", n)
	}
}

func TestTabToFailsWhenTheKeyboardCannotReach(t *testing.T) {
	t.Parallel()
	r, b := newRecorded(t, serve(t).URL)
	b.Navigate("/keyboard.html")
	b.TabTo("#out")
	failures, _ := r.recorded()
	if len(failures) != 1 || !strings.HasPrefix(failures[0], "browser: 200 presses of Tab did not reach #out; the focus is on ") {
		t.Errorf("failures = %q", failures)
	}
}
