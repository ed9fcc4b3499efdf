package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// The policy of these tests: viewer reads everything, dev deploys team-a but
// may not see the secret project, nobody holds no role.
const testPolicy = `
g, viewer, role:readonly
g, dev, role:readonly
g, dev, role:deployer
p, role:deployer, applications, sync, team-a/*, allow
p, role:deployer, applications, refresh, team-a/*, allow
p, dev, applications, get, secret/*, deny
p, dev, ledger, get, secret/*, deny
p, dev, tokens, create, *, allow
g, helpdesk, role:helpdesk
g, helpdesk, role:readonly
p, role:helpdesk, accounts, *, *, allow
g, platform-admins, role:admin
`

const password = "a long enough password"

// apiFixture is the API over a fake cluster holding a few Applications: the
// API server's own logic (routing, authentication, RBAC, filters, actions)
// is what is under test here; the real control plane runs in the CLI and
// reconcile tests.
type apiFixture struct {
	srv    *httptest.Server
	server *server.Server
	apps   client.Client
	auth   *auth.Authenticator
	policy *rbac.Store
	logs   *bytes.Buffer
}

func app(ns, name, project string, sync v1.SyncState, health string) *v1.Application {
	a := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"tier": "web"}}}
	a.Spec.Project = project
	a.Spec.Source.Git.URL = "https://git.internal/" + name + ".git"
	a.Spec.Destination.Namespace = ns
	a.Status.Sync = v1.SyncStatus{Status: sync, Revision: strings.Repeat("b", 40)}
	a.Status.Health = &v1.HealthStatus{Status: health}
	a.Status.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonSucceeded}}
	return a
}

func newAPI(t *testing.T, objs ...client.Object) *apiFixture {
	t.Helper()
	return newAPIWith(t, nil, objs...)
}

// newAPIWith is newAPI with more dependencies set by with.
func newAPIWith(t *testing.T, with func(*server.Deps), objs ...client.Object) *apiFixture {
	t.Helper()
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if objs == nil {
		denied := app("sec", "vault", "secret", v1.OutOfSync, "Healthy")
		denied.Status.Conditions[0] = metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1.ReasonPolicyDenied}
		objs = []client.Object{
			app("team", "web", "team-a", v1.Synced, "Healthy"), app("team", "api", "team-a", v1.OutOfSync, "Degraded"),
			denied, app("other", "x", "", v1.Synced, "Healthy"),
			&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "secret"}},
		}
	}
	apps := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	a := authtest.New(t, auth.Options{LedgerToken: token}, map[string]string{"admin": password, "viewer": password, "dev": password, "nobody": password, "helpdesk": password})
	policy := &rbac.Store{}
	if err := policy.Load(map[string]string{"policy.csv": testPolicy}); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	deps := server.Deps{Apps: apps, Writer: apps, Auth: a, Policy: policy, Log: slog.New(slog.NewTextHandler(logs, nil))}
	if with != nil {
		with(&deps)
	}
	s, err := server.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &apiFixture{srv: srv, server: s, apps: apps, auth: a, policy: policy, logs: logs}
}

// as returns the bearer credential of a logged-in account.
func (f *apiFixture) as(t *testing.T, name string) string {
	return authtest.Login(t, f.auth, name, password)
}

// do sends a request and returns the status and body.
func (f *apiFixture) do(t *testing.T, method, path, cred string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// concrete fills a route pattern's wildcards with names that exist.
func concrete(pattern string) string {
	return strings.NewReplacer("{namespace}", "team", "{name}", "web", "{id}", "0123456789ab").Replace(pattern)
}

// Every route of the server refuses a caller without credentials, and every
// route that needs a permission refuses a caller who holds none.
func TestEveryRouteRefusesStrangersAndTheUnpermitted(t *testing.T) {
	f := newAPI(t)
	nobody := f.as(t, "nobody")
	routes := f.server.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes listed", len(routes))
	}
	for _, rt := range routes {
		path := concrete(rt.Pattern)
		if rt.Public {
			continue
		}
		for _, cred := range []string{"", "garbage", auth.TokenPrefix + "0123456789ab_" + strings.Repeat("0", 64), auth.SessionPrefix + "e30.AAAA"} {
			if code, body := f.do(t, rt.Method, path, cred, "{}"); code != http.StatusUnauthorized {
				t.Errorf("%s %s with credential %q: %d %s; want 401", rt.Method, path, cred, code, body)
			}
		}
		if rt.AnyCaller {
			continue
		}
		code, body := f.do(t, rt.Method, path, nobody, "{}")
		if code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("%s %s as a caller without permissions: %d %s; want 403 or 404", rt.Method, path, code, body)
		}
	}
}

func TestListApplicationsFiltersAndPages(t *testing.T) {
	f := newAPI(t)
	viewer, dev := f.as(t, "viewer"), f.as(t, "dev")
	list := func(cred, query string) server.AppList {
		t.Helper()
		code, body := f.do(t, http.MethodGet, server.PathApplications+"?"+query, cred, nil)
		if code != http.StatusOK {
			t.Fatalf("list ?%s: %d %s", query, code, body)
		}
		var out server.AppList
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	names := func(l server.AppList) string {
		var s []string
		for _, a := range l.Items {
			s = append(s, a.Namespace+"/"+a.Name)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct{ cred, query, want string }{
		{viewer, "", "other/x sec/vault team/api team/web"},
		{dev, "", "other/x team/api team/web"}, // the secret project is denied to dev
		{viewer, "project=team-a", "team/api team/web"},
		{viewer, "project=default", "other/x"},
		{viewer, "sync=OutOfSync", "sec/vault team/api"},
		{viewer, "health=Degraded", "team/api"},
		{viewer, "search=WE", "team/web"},
		{viewer, "namespace=team&labels=tier%3Dweb", "team/api team/web"},
		{viewer, "labels=tier%21%3Dweb", ""},
		{viewer, "policyDenied=true", "sec/vault"},
		{viewer, "verificationFailed=true", ""},
	} {
		if got := names(list(tc.cred, tc.query)); got != tc.want {
			t.Errorf("?%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	// Pages follow each other in order, and the total counts them all.
	page := list(viewer, "limit=3")
	if names(page) != "other/x sec/vault team/api" || page.Total != 4 || page.Continue == "" {
		t.Fatalf("first page: %q total %d continue %q", names(page), page.Total, page.Continue)
	}
	page = list(viewer, "limit=3&continue="+url.QueryEscape(page.Continue))
	if names(page) != "team/web" || page.Continue != "" {
		t.Fatalf("second page: %q continue %q", names(page), page.Continue)
	}
	for _, q := range []string{"limit=0", "limit=100000", "limit=x", "sync=Bad", "health=Fine", "labels=%3D%3D%3D", "continue=%%%", "continue=bm9zbGFzaA", "policyDenied=maybe", "q=" + strings.Repeat("x", 5000)} {
		if code, body := f.do(t, http.MethodGet, server.PathApplications+"?"+q, viewer, nil); code/100 != 4 || !strings.Contains(body, `"error"`) {
			t.Errorf("?%.40s: %d %s; want a 4xx with an error", q, code, body)
		}
	}
}

func TestGetApplicationHidesWhatTheCallerMayNotSee(t *testing.T) {
	f := newAPI(t)
	dev := f.as(t, "dev")
	if code, body := f.do(t, http.MethodGet, server.PathApplications+"/team/web", dev, nil); code != http.StatusOK || !strings.Contains(body, `"project":"team-a"`) {
		t.Errorf("team/web: %d %s", code, body)
	}
	// Denied and missing read the same: the caller learns nothing.
	_, denied := f.do(t, http.MethodGet, server.PathApplications+"/sec/vault", dev, nil)
	code, missing := f.do(t, http.MethodGet, server.PathApplications+"/sec/nothing", dev, nil)
	if code != http.StatusNotFound || !strings.Contains(denied, "or you may not see it") || !strings.Contains(missing, "or you may not see it") {
		t.Errorf("denied %s / missing %d %s", denied, code, missing)
	}
}

func TestSyncIsPinnedToThePreviewedRevisionAndNamesTheActor(t *testing.T) {
	f := newAPI(t)
	dev, viewer := f.as(t, "dev"), f.as(t, "viewer")
	path := server.PathApplications + "/team/web/sync"
	for _, tc := range []struct {
		cred string
		body any
		want int
	}{
		{viewer, server.SyncRequest{Revision: strings.Repeat("b", 40)}, http.StatusForbidden},
		{dev, server.SyncRequest{Revision: strings.Repeat("c", 40)}, http.StatusConflict},
		{dev, server.SyncRequest{}, http.StatusBadRequest},
		{dev, server.SyncRequest{Revision: "HEAD"}, http.StatusBadRequest},
		{dev, `{"revision": "bbbbbbb", "extra": 1}`, http.StatusBadRequest},
		{dev, `{"revision": `, http.StatusBadRequest},
		{dev, `{"revision": "bbbbbbb"} {}`, http.StatusBadRequest},
		{dev, `{"revision": "` + strings.Repeat("b", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		if code, body := f.do(t, http.MethodPost, path, tc.cred, tc.body); code != tc.want {
			t.Errorf("%.60v: %d %s; want %d", tc.body, code, body, tc.want)
		}
	}
	assertUnchanged := func() {
		a := &v1.Application{}
		_ = f.apps.Get(t.Context(), client.ObjectKey{Namespace: "team", Name: "web"}, a)
		if a.Annotations[v1.AnnotationSyncRequestedBy] != "" {
			t.Fatalf("a refused request changed the Application: %v", a.Annotations)
		}
	}
	assertUnchanged()
	code, body := f.do(t, http.MethodPost, path, dev, server.SyncRequest{Revision: "bbbbbbbbbbbb"})
	if code != http.StatusAccepted {
		t.Fatalf("sync: %d %s", code, body)
	}
	a := &v1.Application{}
	if err := f.apps.Get(t.Context(), client.ObjectKey{Namespace: "team", Name: "web"}, a); err != nil {
		t.Fatal(err)
	}
	req := v1.ParseSyncRequest(a.Annotations[v1.AnnotationSyncRequestedBy])
	if req.Who != "dev" || req.Commit != strings.Repeat("b", 40) {
		t.Errorf("the sync request reads %+v; want dev pinned to the newest commit", req)
	}
	// Actions on the secret project do not exist for dev.
	if code, _ := f.do(t, http.MethodPost, server.PathApplications+"/sec/vault/refresh", dev, "{}"); code != http.StatusNotFound {
		t.Errorf("refresh of a hidden Application: %d", code)
	}
}

func TestSuspendAndResumeNeedTheirOwnPermission(t *testing.T) {
	f := newAPI(t)
	admin, dev := f.as(t, "admin"), f.as(t, "dev")
	if code, _ := f.do(t, http.MethodPost, server.PathApplications+"/team/web/suspend", dev, nil); code != http.StatusForbidden {
		t.Errorf("dev suspends: %d, want 403", code)
	}
	if code, body := f.do(t, http.MethodPost, server.PathApplications+"/team/web/suspend", admin, nil); code != http.StatusAccepted {
		t.Fatalf("admin suspends: %d %s", code, body)
	}
	a := &v1.Application{}
	_ = f.apps.Get(t.Context(), client.ObjectKey{Namespace: "team", Name: "web"}, a)
	if !a.Spec.Suspend || !strings.HasPrefix(a.Annotations[v1.AnnotationActionRequestedBy], "suspend by admin at ") {
		t.Errorf("after suspend: suspend=%v, annotation %q", a.Spec.Suspend, a.Annotations[v1.AnnotationActionRequestedBy])
	}
}

func TestSessionsLogInOutAndChangePasswords(t *testing.T) {
	f := newAPI(t)
	code, body := f.do(t, http.MethodPost, server.PathSession, "", server.LoginRequest{Username: "dev", Password: password})
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	var s auth.Session
	_ = json.Unmarshal([]byte(body), &s)
	if code, body := f.do(t, http.MethodGet, server.PathSession, s.Token, nil); code != http.StatusOK || !strings.Contains(body, `"name":"dev"`) {
		t.Errorf("whoami: %d %s", code, body)
	}
	for _, bad := range []any{server.LoginRequest{Username: "dev", Password: "wrong"}, server.LoginRequest{Username: "ghost", Password: password}, `{"username":"dev"}`, `[]`, `{"username":"dev","password":"x","admin":true}`} {
		if code, body := f.do(t, http.MethodPost, server.PathSession, "", bad); code/100 != 4 || strings.Contains(body, "token") {
			t.Errorf("login %v: %d %s", bad, code, body)
		}
	}
	// A new password ends the sessions of the old one.
	old := f.as(t, "viewer")
	viewer := f.as(t, "viewer")
	if code, body := f.do(t, http.MethodPut, server.PathSession+"/password", viewer, server.PasswordChange{Current: password, New: "another long password"}); code != http.StatusNoContent {
		t.Fatalf("password change: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathApplications, old, nil); code != http.StatusUnauthorized {
		t.Errorf("an old session after a password change: %d", code)
	}
	// Logging out ends that session, and it cannot be replayed.
	if code, _ := f.do(t, http.MethodDelete, server.PathSession, s.Token, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathSession, s.Token, nil); code != http.StatusUnauthorized {
		t.Errorf("a logged-out session replayed: %d", code)
	}
}

func TestTokensAreScopedShownOnceAndRevocable(t *testing.T) {
	f := newAPI(t)
	admin := f.as(t, "admin")
	if code, _ := f.do(t, http.MethodPost, server.PathTokens, f.as(t, "viewer"), auth.TokenRequest{Name: "ci", Roles: []string{"role:admin"}, ExpiresIn: "1h"}); code != http.StatusForbidden {
		t.Errorf("a viewer creates a token: %d", code)
	}
	code, body := f.do(t, http.MethodPost, server.PathTokens, admin, auth.TokenRequest{Name: "ci", Roles: []string{"role:readonly"}, Projects: []string{"team-a"}, ExpiresIn: "1h"})
	if code != http.StatusCreated {
		t.Fatalf("create token: %d %s", code, body)
	}
	var tok server.NewToken
	_ = json.Unmarshal([]byte(body), &tok)
	if _, listing := f.do(t, http.MethodGet, server.PathTokens, admin, nil); strings.Contains(listing, tok.Token[len(auth.TokenPrefix)+13:]) {
		t.Error("the token list shows the secret")
	}
	code, body = f.do(t, http.MethodGet, server.PathApplications, tok.Token, nil)
	if code != http.StatusOK || !strings.Contains(body, `"team/web"`) && !strings.Contains(body, `"name":"web"`) || strings.Contains(body, `"vault"`) {
		t.Errorf("the team-a token lists: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodPost, server.PathApplications+"/team/web/refresh", tok.Token, nil); code != http.StatusForbidden {
		t.Errorf("a read-only token refreshes: %d", code)
	}
	if code, _ := f.do(t, http.MethodDelete, server.PathTokens+"/"+tok.Info.ID, admin, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathApplications, tok.Token, nil); code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d", code)
	}
}

func TestHostileRequests(t *testing.T) {
	f := newAPI(t)
	admin := f.as(t, "admin")
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodGet, "/api/v1/applications/team/web/../../accounts", nil, http.StatusNotFound}, // cleaned to /api/v1/applications/accounts
		{http.MethodGet, "/api/v1/applications/team%2Fweb/x", nil, http.StatusNotFound},
		{http.MethodGet, "/api/v1/applications/team/web/sync", nil, http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v2/applications", nil, http.StatusNotFound},
		{http.MethodPost, server.PathAccounts, `{"name":"Bad Name!","password":"` + password + `"}`, http.StatusBadRequest},
		{http.MethodPost, server.PathAccounts, `{"name":"eve","password":"short"}`, http.StatusBadRequest},
		{http.MethodPost, server.PathTokens, `{"name":"x","roles":["role:readonly"],"expiresIn":"87600h"}`, http.StatusBadRequest},
		{http.MethodPost, server.PathTokens, `{"name":"x","roles":["role:readonly"],"expiresIn":"1h","hash":"x"}`, http.StatusBadRequest},
		{http.MethodDelete, server.PathTokens + "/0123456789ab", nil, http.StatusNotFound},
	} {
		code, body := f.do(t, tc.method, tc.path, admin, tc.body)
		if code != tc.want {
			t.Errorf("%s %s: %d %s; want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+server.PathSession, strings.NewReader("username=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form post: %d", resp.StatusCode)
	}
	// A session cookie does not work from another site's page.
	sess, _ := f.auth.Login(t.Context(), "admin", password, "127.0.0.1")
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+server.PathApplications+"/team/web/refresh", nil)
	req.AddCookie(&http.Cookie{Name: server.SessionCookie, Value: sess.Token})
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site cookie request: %d", resp.StatusCode)
	}
}

// Another site must not log a visitor's browser in to an account of its
// choosing (login CSRF): a login comes from this server's pages or from a
// client that is no browser, as JSON.
func TestLoginRefusesOtherSites(t *testing.T) {
	f := newAPI(t)
	login := `{"username":"viewer","password":"` + password + `"}`
	for _, tc := range []struct {
		name, path             string
		contentType, site, org string
		want                   int
	}{
		{"another site's form, no content type", server.PathSession, "", "cross-site", "", http.StatusForbidden},
		{"another site's fetch as text", server.PathSession, "text/plain", "cross-site", "https://evil.example", http.StatusForbidden},
		{"another site's JSON", server.PathSession, "application/json", "cross-site", "", http.StatusForbidden},
		{"a sibling site", server.PathSession, "application/json", "same-site", "", http.StatusForbidden},
		{"another origin", server.PathSession, "application/json", "", "https://evil.example", http.StatusForbidden},
		{"an opaque origin", server.PathSession, "application/json", "", "null", http.StatusForbidden},
		{"no content type", server.PathSession, "", "", "", http.StatusUnsupportedMediaType},
		{"text", server.PathSession, "text/plain", "", "", http.StatusUnsupportedMediaType},
		{"the CLI", server.PathSession, "application/json", "", "", http.StatusOK},
		{"the UI", server.PathSession, "application/json; charset=utf-8", "same-origin", "SELF", http.StatusOK},
		{"typed in the address bar", server.PathSession, "application/json", "none", "", http.StatusOK},
		{"SSO: another site's JSON", server.PathSessionSSO, "application/json", "cross-site", "", http.StatusForbidden},
		{"SSO: no content type", server.PathSessionSSO, "", "", "", http.StatusUnsupportedMediaType},
	} {
		body := login
		if tc.path == server.PathSessionSSO {
			body = `{"idToken":"x"}`
		}
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+tc.path, strings.NewReader(body))
		for k, v := range map[string]string{"Content-Type": tc.contentType, "Sec-Fetch-Site": tc.site, "Origin": strings.ReplaceAll(tc.org, "SELF", f.srv.URL)} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		resp, out := send(t, f.srv, req)
		cookie := resp.Header.Get("Set-Cookie")
		if resp.StatusCode != tc.want || (tc.want == http.StatusOK) != (cookie != "") {
			t.Errorf("%s: %d %s, cookie %q; want %d", tc.name, resp.StatusCode, out, cookie, tc.want)
		}
	}
}

// A page's origin is its scheme and host: a plain-HTTP page under the
// server's name (which a network attacker could write) is not the HTTPS
// server's own. Behind a proxy that ends TLS the server sees plain HTTP, and
// the public origin (--api-public-url) is its own too, with local accounts
// only as with single sign-on. Origins compare normalized: scheme and host
// in any case, the default port written or not.
func TestOriginsMatchSchemeAndHost(t *testing.T) {
	f := newAPI(t)
	tlsSrv := httptest.NewTLSServer(f.server.Handler())
	t.Cleanup(tlsSrv.Close)
	// Local accounts only, behind a proxy; the origin as someone may write it.
	proxied := newAPIWith(t, func(d *server.Deps) { d.PublicOrigin = "https://LockStep.example:443" })
	plainHost, tlsHost := strings.TrimPrefix(f.srv.URL, "http://"), strings.TrimPrefix(tlsSrv.URL, "https://")
	sessions := map[*apiFixture]string{} // a session each, for the requests that act
	for _, tc := range []struct {
		name   string
		fx     *apiFixture
		srv    *httptest.Server
		host   string // the Host asked for, when not the server's address
		origin string
		own    bool
	}{
		{"HTTPS, its own page", f, tlsSrv, "", "https://" + tlsHost, true},
		{"HTTPS, a plain-HTTP page of the same name", f, tlsSrv, "", "http://" + tlsHost, false},
		{"HTTPS, another port", f, tlsSrv, "", "https://" + strings.Split(tlsHost, ":")[0] + ":1", false},
		{"HTTPS, the Host with its default port", f, tlsSrv, "lockstep.example:443", "https://lockstep.example", true},
		{"HTTP, its own page", f, f.srv, "", "http://" + plainHost, true},
		{"HTTP, an HTTPS page of the same name", f, f.srv, "", "https://" + plainHost, false},
		{"HTTP, the Host with its default port", f, f.srv, "lockstep.example:80", "http://lockstep.example", true},
		{"HTTP, the Origin with its default port", f, f.srv, "lockstep.example", "http://lockstep.example:80", true},
		{"HTTP, names in another case", f, f.srv, "LockStep.example", "HTTP://lockstep.EXAMPLE", true},
		{"HTTP, the default port of the other scheme", f, f.srv, "lockstep.example", "http://lockstep.example:443", false},
		{"an opaque origin", f, f.srv, "", "null", false},
		{"an origin with a path", f, f.srv, "", "http://" + plainHost + "/", false},
		{"behind a proxy that ends TLS, the public origin", proxied, proxied.srv, "lockstep.example", "https://lockstep.example", true},
		{"behind a proxy, the public origin with its default port", proxied, proxied.srv, "lockstep.example", "https://lockstep.example:443", true},
		{"behind a proxy, the public name on another port", proxied, proxied.srv, "lockstep.example", "https://lockstep.example:8443", false},
		{"behind a proxy, another name", proxied, proxied.srv, "lockstep.example", "https://evil.example", false},
		{"behind a proxy, plain HTTP under the public name", proxied, proxied.srv, "other.example", "http://lockstep.example", false},
	} {
		request := func(method, path, cookie string, body io.Reader) *http.Request {
			req, _ := http.NewRequest(method, tc.srv.URL+path, body)
			req.Header.Set("Origin", tc.origin)
			if tc.host != "" {
				req.Host = tc.host
			}
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: server.SessionCookie, Value: cookie})
			}
			return req
		}
		wantLogin, wantAction, wantLogout := http.StatusForbidden, http.StatusForbidden, http.StatusForbidden
		if tc.own {
			wantLogin, wantAction, wantLogout = http.StatusOK, http.StatusAccepted, http.StatusNoContent
		}
		// Log in.
		req := request(http.MethodPost, server.PathSession, "", strings.NewReader(`{"username":"dev","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, body := send(t, tc.srv, req)
		if resp.StatusCode != wantLogin {
			t.Errorf("%s: login: %d %s; want %d", tc.name, resp.StatusCode, body, wantLogin)
		}
		// Act with a session cookie.
		if sessions[tc.fx] == "" {
			sessions[tc.fx] = tc.fx.as(t, "admin")
		}
		if resp, body := send(t, tc.srv, request(http.MethodPost, server.PathApplications+"/team/web/refresh", sessions[tc.fx], nil)); resp.StatusCode != wantAction {
			t.Errorf("%s: refresh: %d %s; want %d", tc.name, resp.StatusCode, body, wantAction)
		}
		// Log out: the session just opened, else the shared one (which a
		// refusal leaves open).
		cookie := sessions[tc.fx]
		for _, c := range resp.Cookies() {
			if c.Name == server.SessionCookie {
				cookie = c.Value
			}
		}
		if resp, body := send(t, tc.srv, request(http.MethodDelete, server.PathSession, cookie, nil)); resp.StatusCode != wantLogout {
			t.Errorf("%s: logout: %d %s; want %d", tc.name, resp.StatusCode, body, wantLogout)
		}
	}
}

// The origin of a URL as a browser names its pages: scheme and host in
// lower case, without the scheme's default port.
func TestOriginOf(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://lockstep.example", "https://lockstep.example"},
		{"HTTPS://LockStep.Example:443/auth/callback", "https://lockstep.example"},
		{"http://lockstep.example:80/", "http://lockstep.example"},
		{"https://lockstep.example:80", "https://lockstep.example:80"},
		{"http://lockstep.example:8080", "http://lockstep.example:8080"},
		{"https://[::1]:443", "https://[::1]"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"ftp://lockstep.example", ""},
		{"lockstep.example", ""},
		{"https://", ""},
		{"https://user@lockstep.example", ""},
	} {
		got, err := server.OriginOf(tc.url)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("OriginOf(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
}

// send sends req with srv's client and reads the answer.
func send(t *testing.T, srv *httptest.Server, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// Answers other than 200 are labelled JSON too: with nosniff, a client that
// goes by the label would not read a text/plain one as JSON.
func TestAcceptedAndCreatedAnswersAreJSON(t *testing.T) {
	f, _ := newClusterAPI(t)
	admin := f.as(t, "admin")
	base := server.PathApplications + "/team/web"
	for _, tc := range []struct {
		name, path string
		body       any
		want       int
		notIn      string // a field the answer leaves out
	}{
		{"refresh", base + "/refresh", nil, http.StatusAccepted, ""},
		{"a bulk refresh", server.PathApplications + "/bulk/refresh?project=team-a", nil, http.StatusAccepted, ""},
		{"restart", base + "/resource/actions/restart?group=apps&kind=Deployment&namespace=team&name=web", nil, http.StatusAccepted, `"request"`},
		{"an account", server.PathAccounts, server.NewAccount{Name: "eve", Password: password}, http.StatusCreated, ""},
		{"a token", server.PathTokens, auth.TokenRequest{Name: "ci", Roles: []string{"role:readonly"}, ExpiresIn: "1h"}, http.StatusCreated, ""},
	} {
		var r io.Reader
		if tc.body != nil {
			raw, _ := json.Marshal(tc.body)
			r = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+tc.path, r)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, body := send(t, f.srv, req)
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/json" || !json.Valid([]byte(body)) ||
			tc.notIn != "" && strings.Contains(body, tc.notIn) {
			t.Errorf("%s: %d %q %s; want %d, JSON without %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.want, tc.notIn)
		}
	}
}

func TestNoSecretInLogsOrAnswers(t *testing.T) {
	f := newAPI(t)
	admin := f.as(t, "admin")
	_, body := f.do(t, http.MethodPost, server.PathTokens, admin, auth.TokenRequest{Name: "ci", Roles: []string{"role:readonly"}, ExpiresIn: "1h"})
	var tok server.NewToken
	_ = json.Unmarshal([]byte(body), &tok)
	f.do(t, http.MethodPost, server.PathSession, "", server.LoginRequest{Username: "dev", Password: "wrong-password-planted"})
	f.do(t, http.MethodGet, server.PathApplications, tok.Token, nil)
	_, accounts := f.do(t, http.MethodGet, server.PathAccounts, admin, nil)
	for what, text := range map[string]string{"log": f.logs.String(), "accounts": accounts} {
		for _, secret := range []string{password, "wrong-password-planted", tok.Token, "$2a$"} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds %q", what, secret)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(f.logs), "login refused") {
		t.Error("a refused login is not logged")
	}
}

func TestBulkActionsActOnlyWhereAllowed(t *testing.T) {
	f := newAPI(t)
	dev := f.as(t, "dev")
	bulk := func(action, query string) (int, server.BulkResult) {
		t.Helper()
		code, body := f.do(t, http.MethodPost, server.PathApplications+"/bulk/"+action+"?"+query, dev, nil)
		var r server.BulkResult
		_ = json.Unmarshal([]byte(body), &r)
		return code, r
	}
	if code, _ := bulk("refresh", ""); code != http.StatusBadRequest {
		t.Errorf("a bulk action without a filter: %d", code)
	}
	code, r := bulk("sync", "sync=OutOfSync")
	// dev may sync team-a only, and may not see the secret project at all.
	if code != http.StatusAccepted || len(r.Results) != 1 || r.Results[0].Application != "team/api" || r.Results[0].Outcome != "requested" || r.Results[0].Revision == "" {
		t.Fatalf("bulk sync: %d %+v", code, r)
	}
	if code, r := bulk("refresh", "all=true"); code != http.StatusAccepted || r.Counts["requested"] != 2 || r.Counts["forbidden"] != 1 {
		t.Errorf("bulk refresh of all: %d %+v", code, r)
	}
	if code, _ := bulk("suspend", "all=true"); code != http.StatusForbidden {
		t.Errorf("bulk suspend by someone who may suspend nothing: %d", code)
	}
	a := &v1.Application{}
	_ = f.apps.Get(t.Context(), client.ObjectKey{Namespace: "team", Name: "api"}, a)
	if req := v1.ParseSyncRequest(a.Annotations[v1.AnnotationSyncRequestedBy]); req.Who != "dev" || req.Commit != a.Status.Sync.Revision {
		t.Errorf("team/api's sync request: %+v", req)
	}
	_ = f.apps.Get(t.Context(), client.ObjectKey{Namespace: "other", Name: "x"}, a)
	if a.Annotations[v1.AnnotationSyncRequestedBy] != "" || a.Annotations[v1.AnnotationActionRequestedBy] != "" {
		t.Errorf("an Application dev may not act on was changed: %v", a.Annotations)
	}
}

// A token is no way to more rights: it holds only roles its creator holds,
// and its creator's deny lines bind it.
func TestATokenNeverExceedsItsCreator(t *testing.T) {
	f := newAPI(t)
	dev := f.as(t, "dev")
	if code, body := f.do(t, http.MethodPost, server.PathTokens, dev, auth.TokenRequest{Name: "mine", Roles: []string{"role:admin"}, ExpiresIn: "1h"}); code != http.StatusForbidden {
		t.Errorf("dev mints a role:admin token: %d %s", code, body)
	}
	code, body := f.do(t, http.MethodPost, server.PathTokens, dev, auth.TokenRequest{Name: "mine", Roles: []string{"role:readonly"}, ExpiresIn: "1h"})
	if code != http.StatusCreated {
		t.Fatalf("dev mints a role:readonly token: %d %s", code, body)
	}
	var tok server.NewToken
	_ = json.Unmarshal([]byte(body), &tok)
	_, list := f.do(t, http.MethodGet, server.PathApplications, tok.Token, nil)
	if strings.Contains(list, `"vault"`) || !strings.Contains(list, `"web"`) {
		t.Errorf("dev's read-only token lists %s; want what dev sees, without the denied project", list)
	}
	if code, _ := f.do(t, http.MethodPost, server.PathTokens, tok.Token, auth.TokenRequest{Name: "child", Roles: []string{"role:readonly"}, ExpiresIn: "1h"}); code/100 != 4 {
		t.Errorf("a token mints a token: %d", code)
	}
}

// docs/api.md lists every route: the document is the API's reference.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range newAPI(t).server.Routes() {
		if want := "`" + rt.Method + " " + rt.Pattern + "`"; !strings.Contains(string(doc), want) {
			t.Errorf("docs/api.md does not document %s", want)
		}
	}
}

// Managing accounts is no way to another account's rights: a helpdesk that
// may reset passwords cannot reset the admin's, nor create an account named
// like a group the policy makes admin.
func TestAccountManagementIsNoWayToMoreRights(t *testing.T) {
	f := newAPI(t)
	helpdesk := f.as(t, "helpdesk")
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPut, server.PathAccounts + "/admin/password", server.PasswordChange{New: "a new long password"}, http.StatusForbidden},
		{http.MethodDelete, server.PathAccounts + "/admin", nil, http.StatusForbidden},
		{http.MethodPost, server.PathAccounts, server.NewAccount{Name: "platform-admins", Password: "a new long password"}, http.StatusForbidden},
		{http.MethodPut, server.PathAccounts + "/viewer/password", server.PasswordChange{New: "a new long password"}, http.StatusNoContent},
		{http.MethodPost, server.PathAccounts, server.NewAccount{Name: "newcomer", Password: "a new long password"}, http.StatusCreated},
	} {
		if code, body := f.do(t, tc.method, tc.path, helpdesk, tc.body); code != tc.want {
			t.Errorf("%s %s: %d %s; want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
}

// A token stops at what its creator may do now: a role taken from the
// creator is taken from the token, and a deleted creator's token stops.
func TestATokenFollowsItsCreator(t *testing.T) {
	f := newAPI(t)
	dev := f.as(t, "dev")
	code, body := f.do(t, http.MethodPost, server.PathTokens, dev, auth.TokenRequest{Name: "deploy", Roles: []string{"role:readonly", "role:deployer"}, ExpiresIn: "1h"})
	if code != http.StatusCreated {
		t.Fatalf("mint: %d %s", code, body)
	}
	var tok server.NewToken
	_ = json.Unmarshal([]byte(body), &tok)
	sync := server.SyncRequest{Revision: strings.Repeat("b", 40)}
	if code, body := f.do(t, http.MethodPost, server.PathApplications+"/team/web/sync", tok.Token, sync); code != http.StatusAccepted || !strings.Contains(body, `"actor":"token/deploy(dev)"`) {
		t.Fatalf("the token syncs: %d %s", code, body)
	}
	policy := strings.Replace(testPolicy, "g, dev, role:deployer\n", "", 1)
	if err := f.policy.Load(map[string]string{"policy.csv": policy}); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, http.MethodPost, server.PathApplications+"/team/web/sync", tok.Token, sync); code != http.StatusForbidden {
		t.Errorf("the token syncs after dev lost role:deployer: %d", code)
	}
	if err := f.auth.DeleteAccount(t.Context(), "dev"); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathApplications, tok.Token, nil); code != http.StatusUnauthorized {
		t.Errorf("the token of a deleted account: %d", code)
	}
}

// A client that sends its body a byte at a time is dropped, not waited for.
func TestASlowBodyIsDropped(t *testing.T) {
	defer server.SetReadBodyTimeout(time.Second)()
	f := newAPI(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", server.PathSession)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the slow body held its connection for %s", d)
			}
			return
		case <-time.After(500 * time.Millisecond):
			_, _ = conn.Write([]byte(" "))
		}
	}
}

// A bulk action over its limit is refused before it touches anything.
func TestABulkActionOverItsLimitChangesNothing(t *testing.T) {
	var objs []client.Object
	for i := range server.MaxBulk + 1 {
		objs = append(objs, app("team", fmt.Sprintf("app-%04d", i), "team-a", v1.Synced, "Healthy"))
	}
	f := newAPI(t, objs...)
	code, _ := f.do(t, http.MethodPost, server.PathApplications+"/bulk/suspend?all=true", f.as(t, "admin"), nil)
	if code != http.StatusBadRequest {
		t.Fatalf("a bulk suspend of %d: %d", server.MaxBulk+1, code)
	}
	var list v1.ApplicationList
	if err := f.apps.List(t.Context(), &list); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Items {
		if a.Spec.Suspend {
			t.Fatalf("%s was suspended by a refused request", a.Name)
		}
	}
}
