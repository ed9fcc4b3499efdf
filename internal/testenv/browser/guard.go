package browser

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// ProblemKind is what went wrong in the page.
type ProblemKind int

// The kinds of problem the guard reports.
const (
	// ConsoleError is a call of console.error, or a console.assert that failed.
	ConsoleError ProblemKind = iota
	// Exception is an exception nothing caught, or a promise rejection nothing
	// handled.
	Exception
	// CSPViolation is something the page's Content-Security-Policy blocked: an
	// inline script or style, an eval, a load from another source.
	CSPViolation
	// BrowserError is an error Chromium logged about the page: a resource that
	// failed to load (a 404, a refused connection), mixed content, and the like.
	BrowserError
	// OtherOrigin is a request (or a WebSocket) to an origin the test did not
	// allow. Chromium cannot reach it (see flags) but the page tried.
	OtherOrigin
)

func (k ProblemKind) String() string {
	switch k {
	case ConsoleError:
		return "console error"
	case Exception:
		return "uncaught exception"
	case CSPViolation:
		return "Content-Security-Policy violation"
	case BrowserError:
		return "browser error"
	case OtherOrigin:
		return "request to another origin"
	}
	return fmt.Sprintf("ProblemKind(%d)", int(k))
}

// Problem is one thing the guard found.
type Problem struct {
	Kind ProblemKind
	// Text is the message as the DevTools console shows it, or the request's
	// method and URL for OtherOrigin.
	Text string
	// URL is where it happened: the script, the resource, the page.
	URL string
}

func (p Problem) String() string {
	s := p.Kind.String() + ": " + p.Text
	if p.URL != "" && !strings.Contains(p.Text, p.URL) {
		s += " (" + p.URL + ")"
	}
	return s
}

// report describes problems for a test failure, one a line.
func report(ps []Problem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) in the page:", len(ps))
	for _, p := range ps {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// guard collects the problems of one tab from its events.
type guard struct {
	mu       sync.Mutex
	origins  map[string]bool // allowed origins, as originOf writes them
	expected map[answer]bool // HTTP errors the test expects
	problems []Problem       // found and not yet reported
}

// answer is an HTTP status to a request for a URL (without its query).
type answer struct {
	status int
	url    string
}

func newGuard(origin string) *guard {
	return &guard{origins: map[string]bool{origin: true}, expected: map[answer]bool{}}
}

func (g *guard) allow(origin string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.origins[origin] = true
}

func (g *guard) expect(status int, rawURL string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expected[answer{status, withoutQuery(rawURL)}] = true
}

// observe is the tab's event listener: it runs on chromedp's reading goroutine, in
// the order the events arrive, and must return at once.
func (g *guard) observe(ev any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.detect(ev); ok {
		g.problems = append(g.problems, p)
	}
}

// allowed reports whether a request to rawURL stays within the allowed origins.
// g.mu is held.
func (g *guard) allowed(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "about", "javascript":
		return true // nothing leaves the page
	case "blob":
		// blob:http://host:port/uuid carries the origin that made it.
		inner, _, _ := strings.Cut(u.Opaque, "/")
		if inner == "null" {
			return true
		}
		return g.allowed(u.Opaque)
	}
	o, err := originOf(rawURL)
	return err == nil && g.origins[o]
}

func (g *guard) take() []Problem {
	g.mu.Lock()
	defer g.mu.Unlock()
	ps := g.problems
	g.problems = nil
	return ps
}

func (g *guard) snapshot() []Problem {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Problem(nil), g.problems...)
}

// detect is the guard's rule: whether ev, an event of the tab, is a problem.
// g.mu is held.
func (g *guard) detect(ev any) (Problem, bool) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return Problem{}, false
		}
		p := Problem{Kind: ConsoleError, Text: consoleText(ev.Args)}
		if ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p.Text = "assertion failed: " + p.Text
		}
		if ev.StackTrace != nil && len(ev.StackTrace.CallFrames) > 0 {
			f := ev.StackTrace.CallFrames[0]
			p.URL = fmt.Sprintf("%s:%d", f.URL, f.LineNumber+1)
		}
		return p, true
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			// The description is the error and its stack; the stack's top is in URL.
			first, _, _ := strings.Cut(d.Exception.Description, "\n")
			text += " " + first
		}
		u := d.URL
		if u == "" && d.StackTrace != nil && len(d.StackTrace.CallFrames) > 0 {
			u = d.StackTrace.CallFrames[0].URL
		}
		if u != "" {
			u = fmt.Sprintf("%s:%d", u, d.LineNumber+1)
		}
		return Problem{Kind: Exception, Text: text, URL: u}, true
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError || isFaviconLoad(e) || g.isExpected(e) {
			return Problem{}, false
		}
		kind := BrowserError
		if isCSPViolation(e.Text) {
			kind = CSPViolation
		}
		return Problem{Kind: kind, Text: e.Text, URL: e.URL}, true
	case *network.EventRequestWillBeSent:
		if g.allowed(ev.Request.URL) || isImplicitFavicon(ev) {
			return Problem{}, false
		}
		return Problem{Kind: OtherOrigin, Text: ev.Request.Method + " " + ev.Request.URL, URL: ev.DocumentURL}, true
	case *network.EventWebSocketCreated:
		if g.allowed(ev.URL) {
			return Problem{}, false
		}
		return Problem{Kind: OtherOrigin, Text: "WebSocket " + ev.URL}, true
	}
	return Problem{}, false
}

// failedStatus finds the status in Chromium's message for a load that an HTTP
// error answered: "Failed to load resource: the server responded with a status of
// 401 (Unauthorized)".
var failedStatus = regexp.MustCompile(`^Failed to load resource: the server responded with a status of (\d+)`)

// isExpected reports whether e is a failed load the test expects. g.mu is held.
func (g *guard) isExpected(e *log.Entry) bool {
	m := failedStatus.FindStringSubmatch(e.Text)
	if m == nil || e.Source != log.EntrySourceNetwork {
		return false
	}
	status, _ := strconv.Atoi(m[1])
	return g.expected[answer{status, withoutQuery(e.URL)}]
}

func withoutQuery(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// Chromium asks a page's origin for /favicon.ico on its own, some time after the
// load event, and not always (it remembers a missing icon). Whether that request
// or its failure arrives before a test ends is a race, so neither is a problem: a
// test must pass or fail the same way every time. Nothing is lost: the request
// goes to the page's own origin, and a page from another origin is reported for
// itself.

// isFaviconLoad reports whether e is about the implicit favicon request.
func isFaviconLoad(e *log.Entry) bool {
	u, err := url.Parse(e.URL)
	return e.Source == log.EntrySourceNetwork && err == nil && u.Path == "/favicon.ico"
}

// isImplicitFavicon reports whether ev is the implicit favicon request.
func isImplicitFavicon(ev *network.EventRequestWillBeSent) bool {
	u, err := url.Parse(ev.Request.URL)
	if err != nil || u.Path != "/favicon.ico" || ev.Type != network.ResourceTypeOther {
		return false
	}
	o, err1 := originOf(ev.Request.URL)
	d, err2 := originOf(ev.DocumentURL)
	return err1 == nil && err2 == nil && o == d
}

// isCSPViolation recognises Chromium's message for a blocked load or script
// ("Refused to execute inline script because it violates the following Content
// Security Policy directive: ..."). Chromium reports it as a log entry of level
// error, with no field that tells it from other errors.
func isCSPViolation(text string) bool {
	return strings.Contains(text, "Content Security Policy")
}

// consoleText joins a console call's arguments as the DevTools console would,
// roughly: strings as they are, other values by their description.
func consoleText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a.Type == runtime.RemoteObjectTypeString:
			var s string
			if err := json.Unmarshal(a.Value, &s); err == nil {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, string(a.Value))
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// originOf returns the origin of an http(s) or ws(s) URL as scheme://host:port,
// with the default port spelled out, a ws(s) URL counted as http(s): a page's
// WebSocket to its own server is same-origin for the guard.
func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "ws":
		scheme = "http"
	case "wss":
		scheme = "https"
	}
	port := u.Port()
	switch {
	case port != "":
	case scheme == "http":
		port = "80"
	case scheme == "https":
		port = "443"
	default:
		return "", fmt.Errorf("%s: not an http(s) or ws(s) URL", raw)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%s: no host", raw)
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port, nil
}
