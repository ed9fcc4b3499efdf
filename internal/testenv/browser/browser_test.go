package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

func TestMain(m *testing.M) { Main(m) }

// pagesWithoutCSP are served without the UI's Content-Security-Policy, so that what
// they do reaches the network instead of being stopped by the policy.
var pagesWithoutCSP = map[string]bool{"/other-origin.html": true}

// serve serves testdata/ as the UI is served: under Content-Security-Policy
// default-src 'self'.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	files := http.FileServer(http.Dir("testdata"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !pagesWithoutCSP[r.URL.Path] {
			w.Header().Set("Content-Security-Policy", "default-src 'self'")
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// recorder is a testing.TB that records failures instead of failing the test: the
// harness's own tests provoke failures on purpose and assert them.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	logs     []string
}

func (r *recorder) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, msg)
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failures) > 0
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) recorded() (failures, logs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failures...), append([]string(nil), r.logs...)
}

func TestAPageThatLoadsFinePasses(t *testing.T) {
	t.Parallel()
	b := New(t, serve(t).URL)
	b.Navigate("/ok.html")
	if got := b.Text("#title"); got != "Hello" {
		t.Errorf("Text(#title) = %q, want Hello", got)
	}
	b.Type("#name", "Ada")
	b.Click("#go")
	if got := b.Text("#out"); got != "Hello, Ada" {
		t.Errorf("after typing and clicking, #out = %q, want %q", got, "Hello, Ada")
	}
	b.Clear("#name")
	if got := Evaluate[string](b, `document.getElementById('name').value`); got != "" {
		t.Errorf("after Clear, #name holds %q", got)
	}
	if got, want := strings.Join(b.Texts("li.item"), ","), "one,two,three"; got != want {
		t.Errorf("Texts(li.item) = %s, want %s", got, want)
	}
	if got := b.Count(".none"); got != 0 {
		t.Errorf("Count(.none) = %d", got)
	}
	if got := b.Attribute("#go", "data-role"); got != "primary" {
		t.Errorf("Attribute(#go, data-role) = %q", got)
	}
	if got := b.Location(); got != b.URL("/ok.html") {
		t.Errorf("Location() = %s, want %s", got, b.URL("/ok.html"))
	}
	b.WaitVisible("#late")

	// Keyboard: from the field, Tab reaches the button and Enter presses it.
	b.Click("#name")
	b.Type("#name", "Bo")
	b.Press(kb.Tab)
	if got := Evaluate[string](b, `document.activeElement.id`); got != "go" {
		t.Errorf("after Tab, the focus is on %q, want go", got)
	}
	b.Press(kb.Enter)
	if got := b.Text("#out"); got != "Hello, Bo" {
		t.Errorf("after Enter on the button, #out = %q", got)
	}
	if ps := b.Problems(); len(ps) != 0 {
		t.Errorf("problems on a page that loads fine: %v", ps)
	}
}

func TestEachTestHasItsOwnBrowserContext(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	first := New(t, srv.URL)
	first.Navigate("/ok.html")
	Evaluate[any](first, `localStorage.setItem('k', 'v'), document.cookie = 'c=1', null`)
	second := New(t, srv.URL)
	second.Navigate("/ok.html")
	if got := Evaluate[string](second, `(localStorage.getItem('k') || '') + document.cookie`); got != "" {
		t.Errorf("a new Browser sees another's storage or cookies: %q", got)
	}
}

func TestAllowOrigins(t *testing.T) {
	t.Parallel()
	srv, other := serve(t), serve(t)
	allowed := New(t, srv.URL, AllowOrigins(other.URL))
	allowed.Navigate(other.URL + "/ok.html")
	allowed.WaitVisible("#title")

	notAllowed := New(t, srv.URL)
	navigateUnchecked(t, notAllowed, other.URL+"/ok.html")
	want := fmt.Sprintf("%s: GET %s/ok.html", OtherOrigin, other.URL)
	if ps := notAllowed.TakeProblems(); !hasProblem(ps, want) {
		t.Errorf("without AllowOrigins, loading %s reported no %q:\n%s", other.URL, want, report(ps))
	}
}

func TestExpectStatus(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	b := New(t, srv.URL, ExpectStatus(http.StatusNotFound, "/missing.png"))
	b.Navigate("/missing.html") // its image answers 404: expected, so no failure

	other := New(t, srv.URL, ExpectStatus(http.StatusUnauthorized, "/missing.png"))
	navigateUnchecked(t, other, "/missing.html")
	if ps := other.TakeProblems(); len(ps) != 1 || ps[0].Kind != BrowserError {
		t.Errorf("a 404 where a 401 is expected: problems %v, want the 404", ps)
	}
}
