package browser

import (
	"testing"
	"time"
)

func TestTiming(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/ok.html")
	late := b.WaitTime("#late") // added 150 ms after the script ran
	if late < 150*time.Millisecond || late > 5*time.Second {
		t.Errorf("WaitTime(#late) = %s, want 150 ms and a little", late)
	}
	if again := b.WaitTime("#late"); again < late {
		t.Errorf("WaitTime of an element already there = %s, before it appeared (%s)", again, late)
	}
	pt := b.Timing()
	t.Logf("%+v", pt)
	if pt.ResponseStart <= 0 || pt.DOMContentLoaded < pt.ResponseStart || pt.Load < pt.DOMContentLoaded {
		t.Errorf("navigation timing out of order: %+v", pt)
	}
	if pt.FirstContentfulPaint <= 0 || pt.FirstContentfulPaint > late {
		t.Errorf("FirstContentfulPaint = %s, want after the start and before #late (%s)", pt.FirstContentfulPaint, late)
	}
	if pt.Resources != 2 {
		t.Errorf("Resources = %d, want 2 (ok.js and the favicon)", pt.Resources)
	}
	if now := b.Now(); now < late {
		t.Errorf("Now() = %s, before #late appeared (%s)", now, late)
	}
}

func TestTimingSeesLongTasks(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/busy.html")
	b.WaitTime("body:not(:empty)")
	var pt PageTiming
	deadline := time.Now().Add(5 * time.Second)
	for pt.LongTasks == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		pt = b.Timing()
	}
	t.Logf("%+v", pt)
	if pt.LongTasks != 1 || pt.TotalBlocking < 140*time.Millisecond || pt.LastLongTaskEnd < 250*time.Millisecond {
		t.Errorf("want one long task of about 200 ms ending after 250 ms: %+v", pt)
	}
}
