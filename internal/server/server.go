// Package server is Lockstep's operator API, /api/v1, served by the
// controller: Applications and Projects from the watch cache, actions on
// them, the audit ledger and blame, sessions, accounts and tokens. Every
// route but /healthz authenticates its caller (package auth) and checks the
// RBAC policy (package rbac) before its handler runs: routes.go lists them
// all, with the permission each needs.
//
// The CLI talks to it with Client; `lockstep audit --ledger FILE` uses the
// same ledger Service over a database file.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/server/ui"
)

// Deps are what the server reads and writes through.
type Deps struct {
	// Apps reads Applications and Projects: the controller's watch cache, so
	// that reads cost the API server nothing.
	Apps client.Reader
	// Writer patches Applications for actions, as the controller.
	Writer client.Writer
	// Hub carries the changes of Applications to live streams, and counts
	// the streams (live ones and followed logs) each caller holds open.
	Hub *Hub
	// Cluster reads the resource tree, objects, Events and logs.
	Cluster Cluster
	// Recorder writes the ledger records of actions the server takes itself
	// (resource actions); the others are recorded by the controller.
	Recorder Recorder
	// Previewer runs an Application's pipeline up to the plan.
	Previewer Previewer
	// Releaser writes rollbacks as commits; nil refuses them.
	Releaser Releaser
	// Ledger answers ledger reads and blame.
	Ledger API
	// PublicKey is the ledger's checkpoint key.
	PublicKey ed25519.PublicKey
	// Auth tells who a caller is; Policy what they may do (the RBAC
	// ConfigMap, reloaded on change).
	Auth   *auth.Authenticator
	Policy *rbac.Store
	// OIDC is single sign-on's relying party (sso.go); nil when SSO is off.
	// OIDCPublic is what clients are told to sign in with (PublicOIDC).
	OIDC       RelyingParty
	OIDCPublic OIDCPublic
	// RequireProjects is the controller's --require-projects: while no
	// Project named default exists, its Applications are denied rather than
	// held to the built-in default (what the Projects' answer says).
	RequireProjects bool
	// SecureCookies marks session cookies Secure (served over TLS).
	SecureCookies bool
	// PublicOrigin is the origin browsers reach the API and the UI at
	// (https://lockstep.example), when it is known: the controller takes it
	// from --api-public-url, else from --oidc-redirect-url. Behind a proxy
	// that ends TLS, a page's Origin is this one rather than the plain-HTTP
	// one the server sees. It is compared normalized (see OriginOf).
	PublicOrigin string
	// Hooks takes Git servers' push events at /hooks/ (package receiver):
	// they carry their own signatures, not a user's credentials. nil: none.
	Hooks http.Handler

	Log *slog.Logger
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Server serves the API.
type Server struct {
	d        Deps
	routes   []route
	previews chan struct{} // a slot per preview running
	verifier verifier      // shares ledger verifications
	secrets  secretSets    // each Application's Secrets, for scrubbing its views

	mu         sync.Mutex
	previewsBy map[string]int // previews running per caller; guarded by mu
}

// New returns a Server; every dependency but Ledger, Writer and Apps is
// required (without those, their routes answer 503).
func New(d Deps) (*Server, error) {
	if d.Auth == nil || d.Policy == nil || d.Log == nil {
		return nil, errors.New("server.New: Auth, Policy and Log are required")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	s := &Server{d: d, previews: make(chan struct{}, maxPreviews), previewsBy: map[string]int{}}
	s.routes = s.table()
	return s, nil
}

// Handler serves every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, Instrument(rt.pattern, s.wrap(rt)))
	}
	if s.d.Hooks != nil {
		mux.Handle(PathHooks+"{token}", Instrument(PathHooks+"{token}", hookLimits(s.d.Hooks)))
	}
	pages := ui.Handler()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/auth/") {
			pages.ServeHTTP(w, r) // the web UI, which calls the API
			return
		}
		// A known path asked with another method is told which it takes.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, ", "), r.Method))
			return
		}
		writeError(w, http.StatusNotFound, errors.New("no such API path: see docs/api.md"))
	})
	return mux
}

// Recorder appends a record to the ledger: audit.Ledger.
type Recorder interface {
	Append(ctx context.Context, records ...audit.Record) ([]audit.Record, error)
}
