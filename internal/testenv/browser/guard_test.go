package browser

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// navigateUnchecked loads a page without the helpers' check, so that what the
// guard found stays for TakeProblems.
func navigateUnchecked(t *testing.T, b *Browser, ref string) {
	t.Helper()
	if err := chromedp.Do(b.Context(), chromedp.Navigate(b.URL(ref))); err != nil {
		t.Fatalf("navigating to %s: %v", ref, err)
	}
}

// hasProblem reports whether one of ps, as a string, starts with want.
func hasProblem(ps []Problem, want string) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return strings.HasPrefix(p.String(), want) })
}

func TestGuardFindsProblems(t *testing.T) {
	srv := serve(t)
	for _, tc := range []struct {
		page string
		want []string // each the start of a problem
	}{
		{"/ok.html", nil},
		{"/console-error.html", []string{"console error: boom 42"}},
		{"/exception.html", []string{"uncaught exception: Uncaught Error: kaboom"}},
		{"/rejection.html", []string{"uncaught exception: Uncaught (in promise) Error: nope"}},
		{"/other-origin.html", []string{
			"request to another origin: GET https://example.com/x.png",
			// The request never left: the proxy on loopback refused it.
			"browser error: Failed to load resource: net::ERR_PROXY_CONNECTION_FAILED (https://example.com/x.png)",
		}},
		{"/csp.html", []string{"Content-Security-Policy violation: Executing inline script violates the following Content Security Policy directive 'default-src 'self''"}},
		{"/missing.html", []string{"browser error: Failed to load resource: the server responded with a status of 404 (Not Found) (" + srv.URL + "/missing.png)"}},
	} {
		t.Run(strings.TrimPrefix(tc.page, "/"), func(t *testing.T) {
			t.Parallel()
			b := New(t, srv.URL)
			navigateUnchecked(t, b, tc.page)
			got := b.TakeProblems()
			for _, w := range tc.want {
				if !hasProblem(got, w) {
					t.Errorf("no problem starting %q; got:\n%s", w, report(got))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(tc.want), report(got))
			}
		})
	}
}

func TestAHelperFailsTheTestOnAProblem(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ArtifactsEnv, dir)
	srv := serve(t)
	r := &recorder{}
	t.Run("failing", func(t *testing.T) {
		r.TB = t
		b := New(r, srv.URL)
		b.Navigate("/console-error.html")
	})
	failures, logs := r.recorded()
	want := "browser: 1 problem(s) in the page:\n\tconsole error: boom 42 (" + srv.URL + "/console-error.js:1)"
	if len(failures) != 1 || failures[0] != want {
		t.Errorf("failures = %q, want [%q]", failures, want)
	}
	shot := filepath.Join(dir, "TestAHelperFailsTheTestOnAProblem_failing", "failure.png")
	if png, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("no PNG screenshot of the failure at %s (%v)", shot, err)
	}
	if !slices.ContainsFunc(logs, func(l string) bool { return strings.HasSuffix(l, shot) }) {
		t.Errorf("the screenshot's path was not printed; logs: %q", logs)
	}
}

func TestAFailedActionReportsTheProblemsToo(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	r := &recorder{TB: t}
	var b *Browser
	// Registered before New, so it runs after the Browser's own cleanup: the
	// recorded failure must not leave a screenshot folder behind in /tmp.
	t.Cleanup(func() { _ = os.RemoveAll(b.art.dir) })
	b = New(r, srv.URL, Timeout(300*time.Millisecond))
	navigateUnchecked(t, b, "/exception.html")
	b.WaitVisible("#never")
	failures, _ := r.recorded()
	if len(failures) != 1 ||
		!strings.HasPrefix(failures[0], "browser: waiting for #never: context deadline exceeded") ||
		!strings.Contains(failures[0], "uncaught exception: Uncaught Error: kaboom") {
		t.Errorf("failures = %q, want the timeout and the exception", failures)
	}
}

func TestScreenshotsAreKeptOnlyWhenTheTestFails(t *testing.T) {
	t.Setenv(ArtifactsEnv, "")
	srv := serve(t)
	var passed, failed string
	t.Run("passes", func(t *testing.T) {
		b := New(t, srv.URL)
		b.Navigate("/ok.html")
		passed = b.Screenshot("page")
	})
	t.Run("fails", func(t *testing.T) {
		r := &recorder{TB: t}
		b := New(r, srv.URL)
		b.Navigate("/ok.html")
		failed = b.Screenshot("page")
		r.Errorf("on purpose")
	})
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(failed)) })
	if _, err := os.Stat(filepath.Dir(passed)); !os.IsNotExist(err) {
		t.Errorf("the folder of a passing test's screenshot is still there: %s (%v)", passed, err)
	}
	for _, f := range []string{failed, filepath.Join(filepath.Dir(failed), "failure.png")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a failing test's screenshot is gone: %v", err)
		}
	}
}

func TestAllowed(t *testing.T) {
	g := newGuard("http://127.0.0.1:8080")
	g.allow("https://sso.example:443")
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"http://127.0.0.1:8080/apps?x=1", true},
		{"ws://127.0.0.1:8080/api/watch", true},
		{"HTTP://127.0.0.1:8080/", true},
		{"https://sso.example/authorize", true},
		{"wss://sso.example/", true},
		{"data:image/png;base64,AAAA", true},
		{"about:blank", true},
		{"blob:http://127.0.0.1:8080/0b5e-uuid", true},
		{"http://127.0.0.1:8081/", false},
		{"http://localhost:8080/", false},
		{"https://127.0.0.1:8080/", false},
		{"http://sso.example/", false},
		{"blob:https://cdn.example/0b5e-uuid", false},
		{"ftp://127.0.0.1:8080/", false},
		{"://", false},
	} {
		if got := g.allowed(tc.url); got != tc.want {
			t.Errorf("allowed(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
}
