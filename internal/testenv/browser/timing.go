package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// PageTiming is what the browser measured of the current document, each time from
// the start of its navigation (the origin of performance.now()). A point not
// reached yet is zero. Time to interactive, in the usual sense, is the later of
// when the page showed what the test waits for (WaitTime) and LastLongTaskEnd.
type PageTiming struct {
	ResponseStart    time.Duration // the first byte of the document arrived
	ResponseEnd      time.Duration // the last byte of the document arrived
	DOMInteractive   time.Duration // the document was parsed
	DOMContentLoaded time.Duration // its DOMContentLoaded handlers were done
	Load             time.Duration // its load handlers were done

	FirstPaint             time.Duration
	FirstContentfulPaint   time.Duration // the first text or image painted
	LargestContentfulPaint time.Duration // the largest text or image painted, so far

	// LongTasks counts the tasks of the page's main thread that took over 50 ms,
	// since the document started; TotalBlocking adds up their time beyond 50 ms
	// (what a user waits for after a click), and LastLongTaskEnd is when the last
	// one ended.
	LongTasks       int
	TotalBlocking   time.Duration
	LastLongTaskEnd time.Duration

	// Resources counts what the document loaded (scripts, styles, fetches);
	// TransferBytes adds up the bytes that came over the network for the document
	// and for them.
	Resources     int
	TransferBytes int64
}

// observerScript runs in every document before the page's own scripts (a script
// DevTools adds, which the page's Content-Security-Policy does not govern): long
// tasks and the largest contentful paint are only seen by an observer, and some
// happen before a test could ask.
const observerScript = `(() => {
	const h = {long: [], lcp: 0, observers: []};
	Object.defineProperty(window, Symbol.for('lockstep.browser'), {value: h});
	const observe = (type, f) => {
		try {
			const o = new PerformanceObserver(l => l.getEntries().forEach(f));
			o.observe({type, buffered: true});
			h.observers.push([o, f]);
		} catch (e) {}
	};
	observe('longtask', e => h.long.push([e.startTime, e.duration]));
	observe('largest-contentful-paint', e => { h.lcp = e.startTime; });
})()`

const timingScript = `(() => {
	const h = window[Symbol.for('lockstep.browser')] || {long: [], lcp: 0, observers: []};
	h.observers.forEach(([o, f]) => o.takeRecords().forEach(f));
	const n = performance.getEntriesByType('navigation')[0] || {};
	const paint = {};
	performance.getEntriesByType('paint').forEach(e => { paint[e.name] = e.startTime; });
	const res = performance.getEntriesByType('resource');
	let blocking = 0, lastEnd = 0;
	h.long.forEach(([start, d]) => { blocking += Math.max(0, d - 50); lastEnd = Math.max(lastEnd, start + d); });
	return {
		responseStart: n.responseStart || 0, responseEnd: n.responseEnd || 0,
		domInteractive: n.domInteractive || 0, domContentLoaded: n.domContentLoadedEventEnd || 0,
		load: n.loadEventEnd || 0,
		firstPaint: paint['first-paint'] || 0, firstContentfulPaint: paint['first-contentful-paint'] || 0,
		largestContentfulPaint: h.lcp,
		longTasks: h.long.length, totalBlocking: blocking, lastLongTaskEnd: lastEnd,
		resources: res.length,
		transferBytes: res.reduce((s, r) => s + (r.transferSize || 0), n.transferSize || 0),
	};
})()`

// installObserver adds observerScript to every document the tab loads.
func installObserver(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: observerScript})
		return err
	}))
}

// Timing returns what the browser measured of the current document so far.
func (b *Browser) Timing() PageTiming {
	b.t.Helper()
	raw := Evaluate[rawTiming](b, timingScript)
	return PageTiming{
		ResponseStart: ms(raw.ResponseStart), ResponseEnd: ms(raw.ResponseEnd),
		DOMInteractive: ms(raw.DOMInteractive), DOMContentLoaded: ms(raw.DOMContentLoaded), Load: ms(raw.Load),
		FirstPaint: ms(raw.FirstPaint), FirstContentfulPaint: ms(raw.FirstContentfulPaint),
		LargestContentfulPaint: ms(raw.LargestContentfulPaint),
		LongTasks:              raw.LongTasks, TotalBlocking: ms(raw.TotalBlocking), LastLongTaskEnd: ms(raw.LastLongTaskEnd),
		Resources: raw.Resources, TransferBytes: raw.TransferBytes,
	}
}

// rawTiming is timingScript's value, in milliseconds.
type rawTiming struct {
	ResponseStart          float64 `json:"responseStart"`
	ResponseEnd            float64 `json:"responseEnd"`
	DOMInteractive         float64 `json:"domInteractive"`
	DOMContentLoaded       float64 `json:"domContentLoaded"`
	Load                   float64 `json:"load"`
	FirstPaint             float64 `json:"firstPaint"`
	FirstContentfulPaint   float64 `json:"firstContentfulPaint"`
	LargestContentfulPaint float64 `json:"largestContentfulPaint"`
	LongTasks              int     `json:"longTasks"`
	TotalBlocking          float64 `json:"totalBlocking"`
	LastLongTaskEnd        float64 `json:"lastLongTaskEnd"`
	Resources              int     `json:"resources"`
	TransferBytes          int64   `json:"transferBytes"`
}

// Now returns the page's clock, performance.now(): the time since its navigation
// started.
func (b *Browser) Now() time.Duration {
	b.t.Helper()
	return ms(Evaluate[float64](b, "performance.now()"))
}

// WaitTime waits until an element matching sel is in the document and returns the
// page's clock at that moment, seen by a MutationObserver in the page (so no
// polling delay; the element is painted at the next frame). If it is there
// already, the time is now.
func (b *Browser) WaitTime(sel string) time.Duration {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	js := fmt.Sprintf(`new Promise(resolve => {
		const sel = %s;
		if (document.querySelector(sel)) { resolve(performance.now()); return; }
		const o = new MutationObserver(() => {
			if (document.querySelector(sel)) { o.disconnect(); resolve(performance.now()); }
		});
		o.observe(document, {childList: true, subtree: true, attributes: true});
	})`, q)
	v, _ := run(b, "waiting for "+sel, chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
	return ms(v)
}

// ms turns a DOMHighResTimeStamp (milliseconds, with a fraction) into a Duration.
func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
