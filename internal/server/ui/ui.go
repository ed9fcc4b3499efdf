// Package ui is Lockstep's web UI: a small single-page application written
// as plain ES modules, HTML and CSS, embedded in the binary and served by the
// controller beside the API it calls. There is no build step, no bundle and
// no npm: the files here are what the browser runs, so there is nothing to
// rebuild or to check against its sources, and nothing is fetched from
// outside (no CDN, no web fonts). Every page talks to /api/v1 with the
// session cookie; the API decides what the user may see and do.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy lets the UI load only its own files and call only
// its own API: no inline script or style, no other origin, no framing.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// Handler serves the UI: its assets under /assets/, and index.html for every
// other path (the application routes in the browser).
func Handler() http.Handler {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	static := http.FileServerFS(files)
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the UI only serves pages", http.StatusMethodNotAllowed)
			return
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/assets/"); ok && rest != "" && path.Clean("/"+rest) == "/"+rest {
			h.Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + rest
			static.ServeHTTP(w, r2)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(index)
	})
}
