// Package browser drives the web UI's tests in a real headless Chromium (Debian's
// chromium package, which `make deps` installs) through chromedp.
//
// One Chromium runs per test binary: the first New starts it, and testenv.Main (or
// Main here, for a package without a control plane) stops it when the tests are
// over; it also dies with the binary, by a parent-death signal. Each test gets its
// own browser context (no cookies, storage or cache shared with another test) and
// one tab in it.
//
//	func TestOverview(t *testing.T) {
//		b := browser.New(t, srv.URL)
//		b.Navigate("/")
//		b.Click("#filter-health")
//		...
//	}
//
// Every test is guarded: a console error, an uncaught exception, a violation of
// the page's Content-Security-Policy, an error the browser logs (a failed load), or
// a request to an origin the test did not allow fails it. The network beyond
// loopback is out of reach anyway (see flags), so a page that reaches for a CDN
// fails loudly here instead of hanging in a closed network. When a test fails, a
// full-page screenshot is saved and its path printed (see artifacts.go).
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each action of a Browser (a navigation, a wait, a click).
const DefaultTimeout = 20 * time.Second

// startTimeout bounds Chromium's start (half a second here, when idle).
const startTimeout = 30 * time.Second

// chromiumPaths are where Chromium is looked for, in order. Debian's /usr/bin/chromium
// is a shell wrapper that adds flags of its own (it enables remote extensions and,
// with them, background networking) and trips over a doubly mounted /dev/shm; the
// binary behind it takes exactly the flags below.
var chromiumPaths = []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser"}

// flags are Chromium's command-line flags beyond chromedp's defaults (headless,
// no first run, no background networking, no extensions, no sync, ...).
func flags() []chromedp.ExecAllocatorOption {
	f := []chromedp.ExecAllocatorOption{
		chromedp.WindowSize(1280, 900),
		// No request leaves the machine. Each goes to a proxy on loopback's discard
		// port, where nothing listens, so it fails at once
		// (net::ERR_PROXY_CONNECTION_FAILED), except those to loopback: 127.0.0.1,
		// [::1] and localhost. "<-loopback>" drops Chromium's implicit bypass list,
		// which also lets link-local addresses (169.254.169.254) through; the
		// entries after it put loopback back. And no other host resolves, so not
		// even a DNS query goes out (the resolver rules apply to IP literals too,
		// hence the two addresses). Flags, unlike request interception, cover every
		// target (service workers, workers, Chromium's own fetches) and no test can
		// forget them. The guard still reports each attempt: a blocked request is a
		// bug in the page.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>;127.0.0.1;[::1];localhost"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE [::1], EXCLUDE localhost"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
	}
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to start as root ("Running as root without
		// --no-sandbox is not supported"): its zygote drops privileges through user
		// namespaces or a setuid helper, which a root process defeats. CI and the
		// development machines run the tests as root, and the pages loaded are our
		// own, from loopback; as another user the sandbox stays on.
		f = append(f, chromedp.NoSandbox)
	}
	return f
}

// shared is this test binary's Chromium, started by the first New.
var shared struct {
	once   sync.Once
	ctx    context.Context // the browser's root chromedp context; nil until started
	stop   func()          // ends the browser and its allocator
	err    error           // why the browser could not start
	output *tail           // Chromium's stdout and stderr, for start-up errors
}

// start starts this binary's Chromium once and returns its root context.
func start() (context.Context, error) {
	shared.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			shared.err = err
			return
		}
		shared.output = &tail{max: 16 << 10}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], flags()...)
		opts = append(opts, chromedp.ExecPath(path), chromedp.CombinedOutput(shared.output))
		// The browser serves every test of the binary, so no test's context may
		// own it: its root is the binary's, and Stop ends it.
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		// The first Do binds Chromium's life to its context, so it cannot take a
		// timeout: a watchdog cancels a start that hangs.
		watchdog := time.AfterFunc(startTimeout, cancel)
		err = chromedp.Do(ctx) // starts Chromium and opens its first tab
		if !watchdog.Stop() {
			err = fmt.Errorf("no answer within %s (%v)", startTimeout, err)
		}
		if err != nil {
			cancel()
			cancelAlloc()
			shared.err = fmt.Errorf("starting %s: %w\n%s", path, err, shared.output)
			return
		}
		shared.ctx = ctx
		shared.stop = func() {
			// Close Chromium gracefully, within bounds; chromedp then removes the
			// profile folder it made.
			closeCtx, cancelClose := context.WithTimeout(ctx, 5*time.Second)
			defer cancelClose()
			_ = chromedp.Cancel(closeCtx)
			cancel()
			cancelAlloc()
		}
	})
	return shared.ctx, shared.err
}

func chromiumPath() (string, error) {
	for _, p := range chromiumPaths {
		if found, err := exec.LookPath(p); err == nil {
			return found, nil
		}
	}
	return "", errors.New("no Chromium on this machine (looked for /usr/lib/chromium/chromium and chromium on PATH); `make deps` installs Debian's chromium package")
}

// Stop ends this binary's Chromium if it was started. testenv.Main calls it after
// the tests; a TestMain of its own calls it (or uses Main).
func Stop() {
	if shared.stop != nil {
		shared.stop()
		shared.stop = nil
	}
}

// Main runs the tests of a package that needs a browser but no control plane,
// stops the browser and exits.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Browser is one test's tab, in a browser context of its own. Its methods fail the
// test when an action fails or the guard has found a problem; they must be called
// from the test's goroutine.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context; ends with the test
	base    *url.URL        // the server under test: relative paths resolve against it
	timeout time.Duration
	guard   *guard
	art     *artifacts
}

// Option changes how New sets up a Browser.
type Option func(*Browser)

// AllowOrigins lets the page reach these origins besides the server's (an OpenID
// provider on another loopback port, say); each is a URL whose path is ignored.
func AllowOrigins(urls ...string) Option {
	return func(b *Browser) {
		for _, u := range urls {
			o, err := originOf(u)
			if err != nil {
				b.t.Fatalf("browser: AllowOrigins(%q): %v", u, err)
			}
			b.guard.allow(o)
		}
	}
}

// ExpectStatus tells the guard that the server answering status to a request for
// one of paths (resolved as URL resolves them; any query) is part of the test, not
// a problem: Chromium logs every HTTP error a page's request gets as an error,
// and a UI may ask on purpose (GET /api/v1/session answering 401 before a login).
func ExpectStatus(status int, paths ...string) Option {
	return func(b *Browser) {
		for _, p := range paths {
			b.guard.expect(status, b.URL(p))
		}
	}
}

// Timeout bounds each action of the Browser (DefaultTimeout otherwise).
func Timeout(d time.Duration) Option {
	return func(b *Browser) { b.timeout = d }
}

// New opens a tab for this test in a fresh browser context of this binary's
// Chromium, guarded against problems (see the package documentation); base is the
// server under test, its origin the only one allowed unless opts add others. The
// tab closes when the test ends, after a screenshot if the test failed.
func New(t testing.TB, base string, opts ...Option) *Browser {
	t.Helper()
	// Each Fatalf is followed by a return: the harness's own tests pass a t that
	// records failures instead of stopping.
	root, err := start()
	if err != nil {
		t.Fatalf("browser: %v", err)
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		t.Fatalf("browser: base %q is not an absolute URL", base)
		return nil
	}
	o, err := originOf(base)
	if err != nil {
		t.Fatalf("browser: base %q: %v", base, err)
		return nil
	}
	b := &Browser{t: t, base: u, timeout: DefaultTimeout, guard: newGuard(o), art: newArtifacts(t)}
	for _, opt := range opts {
		opt(b)
	}
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.guard.observe))
	// The first Do binds the tab to the context it is given: ctx, which lives until
	// the cleanup below, not a per-action timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("browser: opening a tab: %v", err)
		return nil
	}
	if err := installObserver(ctx); err != nil {
		cancel()
		t.Fatalf("browser: preparing the tab: %v", err)
		return nil
	}
	b.ctx = ctx
	t.Cleanup(func() {
		b.finish()
		_ = chromedp.Cancel(ctx) // closes the tab and disposes of its browser context
		cancel()
	})
	return b
}

// finish reports what the guard found since the last check, and saves a
// screenshot when the test failed. It runs before the tab closes.
func (b *Browser) finish() {
	b.flush()
	if ps := b.guard.take(); len(ps) > 0 {
		b.t.Errorf("browser: %s", report(ps))
	}
	if b.t.Failed() {
		if path, err := b.saveScreenshot("failure"); err != nil {
			b.t.Logf("browser: no screenshot of the failure: %v", err)
		} else {
			b.t.Logf("browser: screenshot of the page at the failure: %s", path)
		}
	}
	b.art.finish(b.t.Failed())
}

// Context returns the tab's chromedp context, for chromedp actions the helpers do
// not cover. The guard watches them too, but only the helpers and the end of the
// test report what it found.
func (b *Browser) Context() context.Context { return b.ctx }

// URL resolves ref (a path such as "/apps?sync=OutOfSync", or an absolute URL)
// against the server under test.
func (b *Browser) URL(ref string) string {
	r, err := url.Parse(ref)
	if err != nil {
		b.t.Fatalf("browser: %q: %v", ref, err)
		return ref
	}
	return b.base.ResolveReference(r).String()
}

// Problems returns what the guard has found and not yet reported.
func (b *Browser) Problems() []Problem {
	b.flush()
	return b.guard.snapshot()
}

// TakeProblems returns what the guard has found and forgets it, so it fails
// nothing: for a test that provokes a problem on purpose and asserts it. Run the
// provoking actions through Context (the helpers would report the problem first).
func (b *Browser) TakeProblems() []Problem {
	b.flush()
	return b.guard.take()
}

// Check fails the test now if the guard has found a problem. Every helper calls it
// after its action.
func (b *Browser) Check() {
	b.t.Helper()
	b.flush()
	if ps := b.guard.take(); len(ps) > 0 {
		b.t.Fatalf("browser: %s", report(ps))
	}
}

// flush waits until the tab's listener has seen every event Chromium sent before
// now: events and replies come in order on one connection, and the listener runs
// in that order, so a round trip is enough.
func (b *Browser) flush() {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[int]("0"))
}

// tail keeps the last max bytes written to it: Chromium's output, shown when it
// fails to start.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
