package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// maxQuery bounds a request's query string.
const maxQuery = 4096

// SessionCookie carries a browser's session.
const SessionCookie = "lockstep_session"

// call is what the middleware learned about a request before its handler.
type call struct {
	principal auth.Principal
	// app is the Application a scopeApplication route names, from the cache
	// (shared: read only).
	app *v1.Application
	// object is what the permission was checked against.
	object string
	// rbac is the caller's roles and lines, resolved once per request.
	rbac *rbac.Caller
}

// may says whether the caller may take action on resource for object.
func (c *call) may(resource rbac.Resource, action rbac.Action, object string) bool {
	return c.rbac != nil && c.rbac.Enforce(resource, action, object).Allowed()
}

// subjects are what RBAC knows a principal by. The local admin account holds
// role:admin whatever the policy says (a deny line can still restrict it),
// so a broken ConfigMap cannot lock everyone out. A token acts with those of
// its roles its creator still holds, within its creator's denials.
func subjects(policy *rbac.Policy, p auth.Principal) rbac.Subjects {
	s := rbac.Subjects{User: p.Name, Groups: p.Groups, Roles: p.Roles, Projects: p.Projects}
	if p.Method == auth.MethodPassword && p.Name == auth.AdminAccount {
		s.Roles = []string{rbac.Admin}
	}
	if p.Method == auth.MethodToken && p.Owner != "" {
		owner := rbac.Subjects{User: p.Owner, Groups: p.OwnerGroups}
		if p.OwnerMethod == auth.MethodPassword && p.Owner == auth.AdminAccount {
			owner.Roles = []string{rbac.Admin}
		}
		held := policy.Resolve(owner).Subjects()
		roles := []string{} // not nil: with no role left, nothing is allowed
		for _, r := range p.Roles {
			if slices.Contains(held, r) || slices.Contains(held, rbac.Admin) {
				roles = append(roles, r)
			}
		}
		s.User, s.Groups, s.Roles = p.Owner, p.OwnerGroups, roles
	}
	return s
}

// wrap runs the checks every route shares, in order: limits, authentication,
// authorization, then the handler, and turns its error into an answer.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if len(r.URL.RawQuery) > maxQuery {
			writeError(w, http.StatusRequestURITooLong, fmt.Errorf("the query is longer than %d bytes", maxQuery))
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("the query is malformed: %w", err))
			return
		}
		// Each answer has a deadline for its work and for writing it; walking
		// the whole ledger gets longer.
		limit := writeTimeout
		switch {
		case rt.pattern == PathExport || rt.pattern == PathVerify:
			limit = exportTimeout
		case streams(rt, r):
			limit = maxStream
		}
		// A body comes within readBodyTimeout, or the request is dropped: a
		// client dribbling a byte now and then holds nothing for long.
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(readBodyTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		r = r.WithContext(ctx)
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(limit))
		c := &call{}
		err := s.admit(r, rt, c)
		if err == nil {
			err = rt.handle(w, r, c)
		}
		if err != nil {
			s.fail(w, r, c, err)
		}
	})
}

// admit authenticates the caller and checks the route's permission.
func (s *Server) admit(r *http.Request, rt route, c *call) error {
	if rt.scope == scopeNone {
		if r.Method == http.MethodPost {
			return s.loginFromHere(r)
		}
		return nil
	}
	cred, fromCookie := credential(r)
	p, err := s.d.Auth.Authenticate(cred)
	if err != nil {
		return &apiError{status: http.StatusUnauthorized, err: err}
	}
	c.principal = p
	if fromCookie && r.Method != http.MethodGet && !s.sameOrigin(r) {
		return forbidden("a request with a session cookie must come from this server's own pages")
	}
	if p.Method == auth.MethodLedgerToken && rt.resource != rbac.Ledger {
		return forbidden("the shared ledger token (LOCKSTEP_TOKEN) reads only the ledger: log in (lockstep login) or use an API token")
	}
	policy := s.d.Policy.Policy()
	c.rbac = policy.Resolve(subjects(policy, p))
	allowed := func(action rbac.Action, object string) bool {
		d := c.rbac.Enforce(rt.resource, action, object)
		if !d.Allowed() {
			s.d.Log.Info("API request refused", "caller", p.Name, "route", rt.method+" "+rt.pattern, "resource", rt.resource, "action", action, "object", object, "why", d.String())
		}
		return d.Allowed()
	}
	switch rt.scope {
	case scopeAuthenticated:
		return nil
	case scopeGlobal:
		c.object = "*"
	case scopeList:
		if !c.rbac.Somewhere(rt.resource, rt.action) {
			return forbidden("permission denied: %s %s", rt.action, rt.resource)
		}
		return nil
	case scopeProject:
		c.object = r.PathValue("name")
		if !allowed(rbac.Get, c.object) {
			return notFound("no Project %q (or you may not see it)", c.object)
		}
	case scopeApplication:
		app, err := s.application(r)
		if err != nil {
			return err
		}
		c.app, c.object = app, AppObject(app)
		// Whoever may not see the Application learns nothing of it.
		if !c.rbac.Enforce(rbac.Applications, rbac.Get, c.object).Allowed() {
			return notFound("no Application %s/%s (or you may not see it)", app.Namespace, app.Name)
		}
	}
	action := rt.action
	if action == actionOfRequest {
		var err error
		if action, err = resourceActionOf(r); err != nil {
			return badRequest(err)
		}
	}
	if !allowed(action, c.object) {
		return forbidden("permission denied: %s %s %s", action, rt.resource, c.object)
	}
	return nil
}

// application reads the Application the path names from the cache.
func (s *Server) application(r *http.Request) (*v1.Application, error) {
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	if s.d.Apps == nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no Applications")}
	}
	app := &v1.Application{}
	if err := s.d.Apps.Get(r.Context(), key, app); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound("no Application %s (or you may not see it)", key)
		}
		return nil, err
	}
	return app, nil
}

// AppObject is an Application's RBAC object: project/namespace/name.
func AppObject(app *v1.Application) string {
	return ProjectOf(app) + "/" + app.Namespace + "/" + app.Name
}

// ProjectOf is the Project an Application belongs to.
func ProjectOf(app *v1.Application) string {
	if app.Spec.Project == "" {
		return "default"
	}
	return app.Spec.Project
}

// credential is the caller's bearer token, or the session cookie.
func credential(r *http.Request) (cred string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		cred, _ = strings.CutPrefix(h, "Bearer ")
		return strings.TrimSpace(cred), false
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value, true
	}
	return "", false
}

// sameOrigin reports whether a cookie-carrying request that changes something
// came from this server's pages: the browser's Origin (or Sec-Fetch-Site)
// says so. The cookie is SameSite=Strict too; this is the second lock.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return s.isThisServer(r, origin)
}

// loginFromHere refuses a POST that opens a session (a route open to anyone
// that sets the session cookie) unless it comes from this server's own pages
// or from a client that is no browser, such as the CLI: another site could
// otherwise log a visitor's browser in to an account of the site's choosing
// (login CSRF) and watch what they do there. A browser names where a request
// comes from in Sec-Fetch-Site and Origin; the JSON content type, which the
// CLI and the UI send, cannot be sent from another site without a CORS
// preflight this server never grants, which covers browsers that send
// neither header.
func (s *Server) loginFromHere(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return forbidden("a login must come from this server's own pages, not another site (Sec-Fetch-Site: %.40q)", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.isThisServer(r, origin) {
		return forbidden("a login must come from this server's own pages, not %.100q", origin)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &apiError{status: http.StatusUnsupportedMediaType, err: errors.New("send the login as JSON, with Content-Type: application/json")}
	}
	return nil
}

// fail answers a failed request. Errors the caller caused say what was
// wrong; anything else is logged and answered with a request ID only: it may
// name files, hosts or queries the caller has no business seeing.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		if ae.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lockstep"`)
		}
		writeError(w, ae.status, ae.err)
	case errors.As(err, new(*NotFoundError)):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, context.Canceled):
	default:
		id := requestID()
		s.d.Log.Error("API request failed", "path", r.URL.Path, "caller", c.principal.Name, "request", id, "error", err.Error())
		writeError(w, http.StatusInternalServerError, fmt.Errorf("internal error; the controller's log has it as request %s", id))
	}
}

// maxStream bounds a streamed answer (a followed log, live updates): the
// client reconnects after it.
const maxStream = 30 * time.Minute

// streams reports whether the request asks for a stream that outlives
// writeTimeout.
func streams(rt route, r *http.Request) bool {
	return (rt.pattern == appPath+"/logs" && r.URL.Query().Get("follow") == "true") || strings.HasPrefix(rt.pattern, PathStream)
}

// deadlineBody lifts the read deadline once the whole body has been read: the
// server then reads the connection only to notice the client leaving, and a
// deadline there would cancel a long answer.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// Only a whole body lifts it; a body cut short by the deadline keeps it,
	// so the connection is dropped rather than drained at the client's pace.
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
