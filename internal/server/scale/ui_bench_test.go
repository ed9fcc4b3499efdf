package scale_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	cdppage "github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
)

const (
	// uiSmallFleet is the overview's first size; the second is listApps.
	uiSmallFleet = 2000
	// overviewRows is the overview's page (overview.js asks for limit=100).
	overviewRows = 100
	// storefrontServices makes a tree of 2,000 objects (storefront.nodes).
	storefrontServices = 250
	// quiet is how long a load is watched after it was drawn, for long tasks
	// that come after (the history section, a late layout).
	quiet = 500 * time.Millisecond
)

// BenchmarkUI loads the web UI's pages in a real headless Chromium (package
// browser) from the real server.Server, wired as the controller wires it (a
// controller-runtime cache of Applications and Projects, kube.Children
// watching ReplicaSets and Pods, a SQLite ledger, the live-update hub, real
// authentication and RBAC), on the real control plane. Setup (not timed):
// the fleet of BenchmarkListApplications, 2,000 Applications then grown to
// 10,000; then the storefront, one Application whose 250 Deployments with
// their Services, ConfigMaps and ServiceAccounts exist for real and whose
// ReplicaSets and Pods the control plane's controllers made and KWOK runs: a
// tree of 2,000 objects.
//
// Each sub-benchmark logs in once through the login page as a read-only
// user, then each op is one full load of a page (a new document, the
// modules fetched again as their Cache-Control: no-cache says), measured by
// the browser in the page's own clock from the start of the navigation:
//
//   - first-render-ms: the first contentful paint (the page's shell);
//   - ready-ms: the page's data is in the document (the overview's rows,
//     the tree's heading with its count), seen by a MutationObserver
//     installed before the page's own scripts;
//   - interactive-ms: the main thread is free again after drawing it: a
//     frame later (requestAnimationFrame, then a task), or the end of the
//     last long task if one came later, within quiet;
//   - long tasks over 50 ms and their blocking time (beyond 50 ms each), the
//     JavaScript heap after a collection (CDP), the document's elements, the
//     bytes transferred, the slowest API call as the browser saw it;
//   - on the storefront's page, then, open-deployments-ms: a click that opens
//     the tree's largest group (250 Deployments, each with its ReplicaSet and
//     Pods: 1,250 rows) until the main thread is free after showing it, and
//     the blocking time of its long tasks.
//
// Values are the median of the loads; interactive-max-ms is the slowest, and
// where its time went (navigation timing, every fetch from start to last
// byte) is logged. Every page must show what it should (the count of
// Applications, of objects), the browser harness fails a load on any console
// error, and a load that made the API server answer anything but the
// informers' watches fails.
//
//	go test -run '^$' -bench UI -benchtime 5x -timeout 30m ./internal/server/scale/
func BenchmarkUI(b *testing.B) {
	e := newBench(b)
	f := newFleet(uiSmallFleet)
	e.createFleet(b, f)

	requests := &requestCounter{}
	counted := rest.CopyConfig(e.cfg)
	counted.Wrap(requests.wrap)
	apps, _ := startCache(e.ctx, b, counted, e.scheme)
	clients, err := kube.NewClients(counted)
	if err != nil {
		b.Fatal(err)
	}
	children := kube.NewChildren(clients.Dynamic)
	b.Cleanup(children.Stop)
	live := server.NewKubeLive(clients)
	store, ledger := openLedger(e.ctx, b)
	// Nothing changes while the pages load, so the hub publishes nothing;
	// the pages' live streams are open all the same.
	api := startAPI(e.ctx, b, server.Deps{Apps: apps, Writer: apps, Hub: server.NewHub(), Cluster: treeCluster{children, live},
		Ledger: &server.Service{Store: store, Live: live, FieldManager: apply.FieldManager}, PublicKey: ledger.PublicKey()}, f)
	viewer := api.login(b, "viewer")

	b.Run(fmt.Sprintf("overview/apps=%d", uiSmallFleet), func(b *testing.B) { api.benchPage(b, requests, overviewOf(uiSmallFleet)) })

	f.apps = listApps
	f.createApps(e.ctx, b, e.setup, uiSmallFleet, createWorkers)
	api.waitForTotal(e.ctx, b, viewer, listApps)
	b.Run(fmt.Sprintf("overview/apps=%d", listApps), func(b *testing.B) { api.benchPage(b, requests, overviewOf(listApps)) })

	s := storefront{namespace: "list-" + f.id + "-shop", name: "storefront", project: f.project(0), services: storefrontServices}
	s.create(e.ctx, b, e.setup, e.scheme)
	s.record(e.ctx, b, ledger, 50)
	api.waitForTree(e.ctx, b, viewer, s)
	b.Run(fmt.Sprintf("application/resources=%d", s.nodes()), func(b *testing.B) { api.benchPage(b, requests, applicationOf(s)) })
}

// treeCluster is the cluster as the API reads it for these pages: the tree's
// children from the watches the controller keeps, live objects from the API
// server. The pages measured read no Events or logs and restart nothing.
type treeCluster struct {
	*kube.Children
	*server.KubeLive
}

func (treeCluster) Events(context.Context, string, string, string) ([]corev1.Event, error) {
	return nil, nil
}

func (treeCluster) Logs(context.Context, *v1.Application, string, string, corev1.PodLogOptions) (io.ReadCloser, error) {
	return nil, errors.New("this benchmark reads no logs")
}

func (treeCluster) Restart(context.Context, *v1.Application, string, string, string, string, time.Time) error {
	return errors.New("this benchmark restarts nothing")
}

// uiPage is a page to load: its route, when it has drawn its data, what it
// must show then, and optionally a user's first action on it, timed.
type uiPage struct {
	route string // the hash route: "#/"
	ready string // a JavaScript expression, true once the data is drawn
	check func(b *testing.B, br *browser.Browser)
	act   func(b *testing.B, br *browser.Browser) time.Duration
	actor string // names the act's metrics: "open-deployments"
}

func overviewOf(total int) uiPage {
	return uiPage{route: "#/", ready: `document.querySelector("table.apps tbody tr") !== null`,
		check: func(b *testing.B, br *browser.Browser) {
			want := fmt.Sprintf("%d Applications", total)
			if got, rows := br.Text("table.apps caption"), br.Count("table.apps tbody tr"); got != want || rows != overviewRows {
				b.Fatalf("the overview shows %q and %d rows; want %q and %d", got, rows, want, overviewRows)
			}
		}}
}

// applicationOf is the storefront's page. Its act opens the group of
// Deployments, the tree's largest: each Deployment with its ReplicaSet and
// Pods.
func applicationOf(s storefront) uiPage {
	return uiPage{route: fmt.Sprintf("#/apps/%s/%s", s.namespace, s.name),
		ready: `/^Objects \(\d+\)/.test((document.querySelector("#tree-h") || {}).textContent || "")`,
		check: func(b *testing.B, br *browser.Browser) {
			if got, want := br.Text("#tree-h"), fmt.Sprintf("Objects (%d)", s.nodes()); got != want {
				b.Fatalf("the tree's heading reads %q; want %q", got, want)
			}
		},
		act: func(b *testing.B, br *browser.Browser) time.Duration {
			o := browser.Evaluate[struct {
				MS   float64 `json:"ms"`
				Rows int     `json:"rows"`
			}](br, fmt.Sprintf(openGroup, "Deployment"))
			if want := s.services * (2 + storefrontReplicas); o.Rows != want {
				b.Fatalf("the group of Deployments shows %d rows once open; want %d", o.Rows, want)
			}
			return ms(o.MS)
		},
		actor: "open-deployments"}
}

// openGroup opens the tree's group of a kind as a click on its summary does,
// and measures the time from the click to the main thread's next task after
// the frame that showed the group's rows.
const openGroup = `new Promise((resolve, reject) => {
	const g = document.querySelector('details.group[data-kind="%s"]');
	if (!g || g.open) { reject(new Error("no closed group of that kind")); return; }
	const start = performance.now();
	g.addEventListener("toggle", () => requestAnimationFrame(() => setTimeout(() =>
		resolve({ms: performance.now() - start, rows: g.querySelectorAll("li").length}))), {once: true});
	g.querySelector("summary").click();
})`

// readyScript runs in every document before the page's scripts: it notes
// when ready first holds, and when the main thread next runs a task after
// the frame that showed it.
func readyScript(ready string) string {
	return fmt.Sprintf(`(() => {
	const ready = () => { try { return !!(%s); } catch (e) { return false; } };
	const m = {};
	m.done = new Promise(resolve => {
		const o = new MutationObserver(() => {
			if (m.ready || !ready()) return;
			m.ready = performance.now();
			o.disconnect();
			requestAnimationFrame(() => setTimeout(() => resolve({ready: m.ready, idle: performance.now()})));
		});
		o.observe(document, {childList: true, subtree: true, characterData: true});
	});
	Object.defineProperty(window, Symbol.for("lockstep.bench"), {value: m});
})()`, ready)
}

// readyMarks is readyScript's promise's value, in milliseconds.
type readyMarks struct {
	Ready float64 `json:"ready"`
	Idle  float64 `json:"idle"`
}

// slowestAPICall is the longest an API call of the page took, request sent
// to last byte, as the browser saw it (the live stream, still open, aside).
const slowestAPICall = `Math.max(0, ...performance.getEntriesByType("resource")
	.filter(r => r.name.includes("/api/v1/") && !r.name.includes("/api/v1/stream/"))
	.map(r => r.responseEnd - r.startTime))`

// loadTimeline lists what the page fetched, each from its start to its last
// byte: where a slow load's time went.
const loadTimeline = `performance.getEntriesByType("resource")
	.map(r => r.name.replace(location.origin, "") + " " + r.startTime.toFixed(0) + "–" + r.responseEnd.toFixed(0))
	.join(", ")`

// pageLoad is what one load measured.
type pageLoad struct {
	firstRender, lcp, ready, interactive time.Duration
	longTasks                            int
	blocking                             time.Duration
	heapMiB                              float64 // the JavaScript heap after a collection
	elements                             int
	transferKiB                          float64
	slowestAPI                           time.Duration
	act, actBlocking                     time.Duration // p's act, and the blocking time of its long tasks
	timeline                             string        // PageTiming, the marks and loadTimeline
}

// benchPage opens a tab, logs in, and loads p b.N times.
func (api *listAPI) benchPage(b *testing.B, requests *requestCounter, p uiPage) {
	br := browser.New(b, api.url)
	ctx, cancel := context.WithTimeout(br.Context(), browser.DefaultTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: readyScript(p.ready)}); err != nil {
		b.Fatal(err)
	}
	br.Navigate("/#/login")
	br.Type("#username", "viewer")
	br.Type("#password", password)
	br.Click("form.login button[type=submit]")
	br.WaitVisible("table.apps")

	loads := make([]pageLoad, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		mark := requests.snapshot()
		loads = append(loads, load(b, br, p, i))
		if reads := requests.reads(mark); len(reads) > 0 {
			b.Fatalf("loading %s made %d API-server requests: %v", p.route, len(reads), reads[:min(len(reads), 5)])
		}
	}
	b.StopTimer()
	reportLoads(b, p, loads)
}

// load loads p as a new document (the query differs each time) and measures
// it, then p's act.
func load(b *testing.B, br *browser.Browser, p uiPage, i int) pageLoad {
	br.Navigate(fmt.Sprintf("/?load=%d%s", i, p.route))
	marks := browser.Evaluate[readyMarks](br, `window[Symbol.for("lockstep.bench")].done`)
	time.Sleep(quiet)
	t := br.Timing()
	p.check(b, br)
	l := pageLoad{
		firstRender: t.FirstContentfulPaint, lcp: t.LargestContentfulPaint,
		ready: ms(marks.Ready), interactive: max(ms(marks.Idle), t.LastLongTaskEnd),
		longTasks: t.LongTasks, blocking: t.TotalBlocking,
		elements:    browser.Evaluate[int](br, `document.getElementsByTagName("*").length`),
		transferKiB: float64(t.TransferBytes) / 1024,
		slowestAPI:  ms(browser.Evaluate[float64](br, slowestAPICall)),
		timeline:    fmt.Sprintf("%+v, ready %.0f ms, idle %.0f ms; %s", t, marks.Ready, marks.Idle, browser.Evaluate[string](br, loadTimeline)),
	}
	ctx, cancel := context.WithTimeout(br.Context(), browser.DefaultTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{})
	heap, err2 := chromedp.Call(ctx, cdpruntime.GetHeapUsage, cdp.Empty{})
	if err := errors.Join(err, err2); err != nil {
		b.Fatalf("measuring the JavaScript heap: %v", err)
	}
	l.heapMiB = heap.UsedSize / (1 << 20)
	if p.act != nil {
		l.act = p.act(b, br)
		l.actBlocking = br.Timing().TotalBlocking - t.TotalBlocking
	}
	return l
}

// loadMetric is a metric reported of the loads: its unit, and its value in one.
type loadMetric struct {
	unit string
	f    func(pageLoad) float64
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// reportLoads reports the median of each measure over the loads, the
// slowest time to interactive, and logs where the slowest load's time went.
func reportLoads(b *testing.B, p uiPage, loads []pageLoad) {
	median := func(f func(pageLoad) float64) float64 {
		v := make([]float64, len(loads))
		for i, l := range loads {
			v[i] = f(l)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	inMS := func(f func(pageLoad) time.Duration) func(pageLoad) float64 {
		return func(l pageLoad) float64 { return float64(f(l)) / float64(time.Millisecond) }
	}
	metrics := []loadMetric{
		{"first-render-ms", inMS(func(l pageLoad) time.Duration { return l.firstRender })},
		{"lcp-ms", inMS(func(l pageLoad) time.Duration { return l.lcp })},
		{"ready-ms", inMS(func(l pageLoad) time.Duration { return l.ready })},
		{"interactive-ms", inMS(func(l pageLoad) time.Duration { return l.interactive })},
		{"long-tasks", func(l pageLoad) float64 { return float64(l.longTasks) }},
		{"blocking-ms", inMS(func(l pageLoad) time.Duration { return l.blocking })},
		{"slowest-api-ms", inMS(func(l pageLoad) time.Duration { return l.slowestAPI })},
		{"js-heap-MiB", func(l pageLoad) float64 { return l.heapMiB }},
		{"dom-elements", func(l pageLoad) float64 { return float64(l.elements) }},
		{"transfer-KiB", func(l pageLoad) float64 { return l.transferKiB }},
	}
	if p.act != nil {
		metrics = append(metrics, loadMetric{p.actor + "-ms", inMS(func(l pageLoad) time.Duration { return l.act })},
			loadMetric{p.actor + "-blocking-ms", inMS(func(l pageLoad) time.Duration { return l.actBlocking })})
	}
	for _, m := range metrics {
		b.ReportMetric(median(m.f), m.unit)
	}
	slowest := slices.MaxFunc(loads, func(x, y pageLoad) int { return int(x.interactive - y.interactive) })
	b.ReportMetric(float64(slowest.interactive)/float64(time.Millisecond), "interactive-max-ms")
	b.Logf("the slowest of %d loads: %s", len(loads), slowest.timeline)
}

// reads returns the requests sent after mark other than watches: the
// informers' long requests, which they renew now and then.
func (c *requestCounter) reads(mark int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.sent[mark:] {
		if !strings.Contains(r, "watch=true") {
			out = append(out, r)
		}
	}
	return out
}

// waitForTotal waits until the API lists total Applications: the cache has
// seen the fleet grow.
func (api *listAPI) waitForTotal(ctx context.Context, b *testing.B, token string, total int) {
	b.Helper()
	c := api.client(b, token)
	got := 0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		l, err := c.Applications(ctx, server.ListOptions{Limit: 1})
		if got = l.Total; err == nil && got == total {
			return
		}
	}
	b.Fatalf("the API lists %d Applications; want %d", got, total)
}
