package ui_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/server/ui"
)

func TestPagesAndAssetsAreServedWithTheirPolicy(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, wantType, wantBody string
		wantCode                 int
	}{
		{"/", "text/html", `<script type="module" src="/assets/app.js">`, 200},
		{"/anything/the/router/handles", "text/html", "<title>Lockstep</title>", 200},
		{"/assets/app.js", "javascript", "hashchange", 200},
		{"/assets/style.css", "text/css", ":root", 200},
		{"/assets/missing.js", "", "", 404},
		{"/assets/../ui.go", "text/html", "<title>Lockstep</title>", 200}, // cleaned by the client: the page, never the source
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || !strings.Contains(resp.Header.Get("Content-Type"), tc.wantType) || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("%s: %d %q %.80q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
}

// Nothing in the UI names another origin: no CDN, no web font, no script
// from elsewhere.
func TestTheUINamesNoOtherOrigin(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	files := []string{"/"}
	entries, err := os.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		files = append(files, "/assets/"+e.Name())
	}
	if len(files) < 10 {
		t.Fatalf("only %d files to check", len(files))
	}
	for _, f := range files {
		resp, err := http.Get(srv.URL + f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// An XML namespace is a name, never fetched.
		body = bytes.ReplaceAll(body, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil)
		// Another origin, a font from elsewhere, or text parsed as HTML.
		for _, bad := range []string{"http://", "https://", "@import", "innerHTML =", "insertAdjacentHTML", "document.write"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
}

// index.html preloads every module, so the browser fetches them together
// instead of one import level after another.
func TestTheIndexPreloadsEveryModule(t *testing.T) {
	index, err := os.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") || e.Name() == "app.js" {
			continue
		}
		if !strings.Contains(string(index), `<link rel="modulepreload" href="/assets/`+e.Name()+`">`) {
			t.Errorf("index.html does not preload %s", e.Name())
		}
	}
}
