package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

// The identity provider's groups and what the RBAC policy makes of them:
// ops reads everything, deployers also refresh team-a.
const ssoPolicy = `
g, ops, role:readonly
g, deployers, role:readonly
g, deployers, role:deployer
p, role:deployer, applications, refresh, team-a/*, allow
`

const (
	ssoClient = "lockstep"
	ssoSecret = "s3cret"
	ssoCLI    = "lockstep-cli"
)

// ssoFixture is the API with single sign-on against a real OpenID provider.
// Users are named by preferred_username, so an SSO user can be named like a
// local account.
type ssoFixture struct {
	*apiFixture
	provider *oidc.Provider
	log      *syncBuffer
}

// syncBuffer is the server's log, written by its handlers as the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newSSO(t *testing.T) *ssoFixture {
	t.Helper()
	p := oidc.Start(t)
	// The server's URL must be known before the relying party is made: it is
	// the redirect URI registered with the provider.
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	p.AddClient(oidc.Client{ID: ssoClient, Secret: ssoSecret, RedirectURIs: []string{base + server.PathAuthCallback}})
	p.AddClient(oidc.Client{ID: ssoCLI, RedirectURIs: []string{"http://127.0.0.1" + auth.OIDCLoopbackPath}, Device: true})
	p.AddUser(oidc.User{Name: "alice", Password: "pw", Groups: []string{"ops"}})
	p.AddUser(oidc.User{Name: "dan", Password: "pw", Groups: []string{"deployers"}})
	p.AddUser(oidc.User{Name: "admin", Password: "pw", Groups: []string{"ops"}})
	cfg := auth.OIDCConfig{Issuer: p.Issuer, ClientID: ssoClient, ClientSecret: ssoSecret, CLIClientID: ssoCLI,
		RedirectURL: base + server.PathAuthCallback, UsernameClaim: "preferred_username"}
	rp, err := auth.NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newSSOAPI(t, srv, rp, server.PublicOIDC(cfg, ""))
	f.provider = p
	return f
}

// newSSOAPI serves the API with ssoPolicy and the relying party rp on srv,
// not started yet, over two Applications and the local accounts admin and
// viewer.
func newSSOAPI(t *testing.T, srv *httptest.Server, rp server.RelyingParty, pub server.OIDCPublic) *ssoFixture {
	t.Helper()
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	apps := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		app("team", "web", "team-a", v1.Synced, "Healthy"), app("other", "x", "", v1.Synced, "Healthy")).Build()
	a := authtest.New(t, auth.Options{}, map[string]string{"admin": password, "viewer": password})
	policy := &rbac.Store{}
	if err := policy.Load(map[string]string{"policy.csv": ssoPolicy}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := server.New(server.Deps{Apps: apps, Writer: apps, Auth: a, Policy: policy,
		OIDC: rp, OIDCPublic: pub, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return &ssoFixture{apiFixture: &apiFixture{srv: srv, server: s, apps: apps, auth: a}, log: logs}
}

// idToken is an ID token the provider issued to the CLI's client for user.
func (f *ssoFixture) idToken(t *testing.T, user string, groups ...string) string {
	claims := f.provider.Claims(user, ssoCLI)
	claims["groups"] = groups
	return f.provider.Sign(t, claims)
}

// ssoLogin posts an ID token and returns the status, the body (the error's
// text when refused) and the session token (when one was opened).
func (f *ssoFixture) ssoLogin(t *testing.T, body any) (int, string, string) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, _ := json.Marshal(body)
		raw = string(b)
	}
	resp, err := http.Post(f.srv.URL+server.PathSessionSSO, "application/json", strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if len(resp.Cookies()) > 0 {
			t.Errorf("a refused login set cookies: %v", resp.Cookies())
		}
		var e server.Error
		if json.Unmarshal(out, &e) != nil {
			t.Errorf("a refusal that is no JSON error: %s", out)
		}
		return resp.StatusCode, e.Error, ""
	}
	var s auth.Session
	_ = json.Unmarshal(out, &s)
	return resp.StatusCode, string(out), s.Token
}

func TestAuthConfigSaysHowToSignIn(t *testing.T) {
	f := newSSO(t)
	code, body := f.do(t, http.MethodGet, server.PathAuthConfig, "", nil)
	var got server.AuthConfig
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || got.SSO == nil {
		t.Fatalf("auth config: %d %s", code, body)
	}
	want := server.OIDCPublic{Issuer: f.provider.Issuer, CLIClientID: ssoCLI, Scopes: auth.DefaultOIDCScopes,
		UsernameClaim: "preferred_username", GroupsClaim: "groups"}
	if !slices.Equal(got.SSO.Scopes, want.Scopes) || got.SSO.Issuer != want.Issuer || got.SSO.CLIClientID != want.CLIClientID ||
		got.SSO.UsernameClaim != want.UsernameClaim || got.SSO.GroupsClaim != want.GroupsClaim {
		t.Errorf("auth config %+v, want %+v", *got.SSO, want)
	}
	if strings.Contains(body, ssoSecret) {
		t.Errorf("the auth config shows the client secret: %s", body)
	}

	// Without single sign-on: no sso, and its routes say it is off.
	off := newAPI(t)
	if code, body := off.do(t, http.MethodGet, server.PathAuthConfig, "", nil); code != http.StatusOK || strings.TrimSpace(body) != "{}" {
		t.Errorf("auth config without SSO: %d %s", code, body)
	}
	for _, rt := range []struct{ method, path string }{{http.MethodPost, server.PathSessionSSO}, {http.MethodGet, server.PathAuthLogin}, {http.MethodGet, server.PathAuthCallback}} {
		if code, body := off.do(t, rt.method, rt.path, "", `{"idToken": "x"}`); code != http.StatusNotFound || !strings.Contains(body, "not configured") {
			t.Errorf("%s %s without SSO: %d %s; want 404", rt.method, rt.path, code, body)
		}
	}
}

// The groups in the ID token are RBAC subjects: g lines give them roles.
func TestSSOLoginMapsGroupsToRoles(t *testing.T) {
	f := newSSO(t)
	code, body, alice := f.ssoLogin(t, server.SSOLoginRequest{IDToken: f.idToken(t, "alice", "ops")})
	if code != http.StatusOK || alice == "" {
		t.Fatalf("SSO login: %d %s", code, body)
	}
	var who server.Whoami
	_, body = f.do(t, http.MethodGet, server.PathSession, alice, nil)
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Name != "alice" || who.Method != "sso" || !slices.Equal(who.Groups, []string{"ops"}) {
		t.Errorf("whoami: %s", body)
	}
	_, _, dan := f.ssoLogin(t, server.SSOLoginRequest{IDToken: f.idToken(t, "dan", "deployers")})
	_, _, nobody := f.ssoLogin(t, server.SSOLoginRequest{IDToken: f.idToken(t, "zoe", "visitors")})
	refresh := server.PathApplications + "/team/web/refresh"
	for _, tc := range []struct {
		who, cred, method, path string
		want                    int
	}{
		{"alice", alice, http.MethodGet, server.PathApplications, http.StatusOK},
		{"alice", alice, http.MethodPost, refresh, http.StatusForbidden},
		{"alice", alice, http.MethodPost, server.PathAccounts, http.StatusForbidden},
		{"dan", dan, http.MethodPost, refresh, http.StatusAccepted},
		{"dan", dan, http.MethodPost, server.PathApplications + "/other/x/refresh", http.StatusForbidden},
		{"zoe", nobody, http.MethodGet, server.PathApplications, http.StatusForbidden},
	} {
		if code, body := f.do(t, tc.method, tc.path, tc.cred, nil); code != tc.want {
			t.Errorf("%s: %s %s: %d %s; want %d", tc.who, tc.method, tc.path, code, body, tc.want)
		}
	}
	// Logging out ends an SSO session as it ends a password one.
	if code, _ := f.do(t, http.MethodDelete, server.PathSession, alice, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathSession, alice, nil); code != http.StatusUnauthorized {
		t.Errorf("the session after logout: %d, want 401", code)
	}
}

func TestSSOLoginRefusals(t *testing.T) {
	f := newSSO(t)
	p := f.provider
	valid := func() map[string]any { c := p.Claims("alice", ssoCLI); c["groups"] = []string{"ops"}; return c }
	with := func(k string, v any) map[string]any { c := valid(); c[k] = v; return c }
	for _, tc := range []struct {
		name string
		body any
		want int
		says string
	}{
		{"signed by another key", server.SSOLoginRequest{IDToken: p.SignWithOtherKey(t, valid())}, http.StatusUnauthorized, "signature"},
		{"alg none", server.SSOLoginRequest{IDToken: oidc.Unsigned(t, valid())}, http.StatusUnauthorized, `signed with "none"`},
		{"HS256 keyed with the public key", server.SSOLoginRequest{IDToken: p.SignHS256WithPublicKey(t, valid())}, http.StatusUnauthorized, `"HS256"`},
		{"expired", server.SSOLoginRequest{IDToken: p.Sign(t, with("exp", time.Now().Add(-time.Minute).Unix()))}, http.StatusUnauthorized, "expired at"},
		{"another audience", server.SSOLoginRequest{IDToken: p.Sign(t, p.Claims("alice", "another-app"))}, http.StatusUnauthorized, "not to this server's clients"},
		{"another issuer", server.SSOLoginRequest{IDToken: p.Sign(t, with("iss", "https://idp.elsewhere"))}, http.StatusUnauthorized, "ID token rejected"},
		{"not a JWT", server.SSOLoginRequest{IDToken: "not-a-token"}, http.StatusUnauthorized, "ID token rejected"},
		{"a local account's name", server.SSOLoginRequest{IDToken: f.idToken(t, "admin", "ops")}, http.StatusForbidden, "local account"},
		{"an API token's name", server.SSOLoginRequest{IDToken: f.idToken(t, "token/ci")}, http.StatusForbidden, "reserved"},
		{"no token", server.SSOLoginRequest{}, http.StatusBadRequest, "give idToken"},
		{"unknown field", `{"idToken": "x", "user": "admin"}`, http.StatusBadRequest, "unknown field"},
		{"not JSON", `{"idToken": `, http.StatusBadRequest, "not valid JSON"},
		{"oversized", `{"idToken": "` + strings.Repeat("a", 2<<20) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, token := f.ssoLogin(t, tc.body)
			if code != tc.want || !strings.Contains(body, tc.says) || token != "" {
				t.Errorf("%d %s; want %d mentioning %q, and no session", code, body, tc.want, tc.says)
			}
		})
	}
	// Nothing changed: the local admin is still theirs alone.
	if code, body := f.do(t, http.MethodGet, server.PathAccounts, f.as(t, "admin"), nil); code != http.StatusOK {
		t.Errorf("the local admin after the refusals: %d %s", code, body)
	}
}

// A provider that cannot be reached is a 503 that names no host, not a 401.
func TestSSOLoginWhileTheProviderIsAway(t *testing.T) {
	f := newSSO(t)
	token := f.idToken(t, "alice", "ops") // its key was never fetched
	f.provider.Close()
	code, body, _ := f.ssoLogin(t, server.SSOLoginRequest{IDToken: token})
	host := strings.TrimPrefix(f.provider.Issuer, "http://")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "request") || strings.Contains(body, host) {
		t.Errorf("%d %s; want 503 with a request ID and no provider address", code, body)
	}
	if !strings.Contains(f.log.String(), host) {
		t.Errorf("the log does not say which provider was away:\n%s", f.log)
	}
}

// notReady is a relying party whose provider was never discovered, as the
// controller's is while the provider is down at start.
type notReady struct{ server.RelyingParty }

func (notReady) Ready() error {
	return errors.New("discovering https://idp.internal: " + auth.ErrIdentityProviderUnavailable.Error())
}

func TestSSOBeforeDiscoveryAnswers503(t *testing.T) {
	f := newSSOAPI(t, httptest.NewUnstartedServer(nil), notReady{}, server.OIDCPublic{Issuer: "https://idp.internal"})
	for _, rt := range []struct{ method, path string }{{http.MethodPost, server.PathSessionSSO}, {http.MethodGet, server.PathAuthLogin}, {http.MethodGet, server.PathAuthCallback}} {
		if code, body := f.do(t, rt.method, rt.path, "", `{"idToken": "x"}`); code != http.StatusServiceUnavailable || strings.Contains(body, "idp.internal") {
			t.Errorf("%s %s: %d %s; want 503 naming no host", rt.method, rt.path, code, body)
		}
	}
	// Password logins work meanwhile.
	if code, body := f.do(t, http.MethodPost, server.PathSession, "", server.LoginRequest{Username: "viewer", Password: password}); code != http.StatusOK {
		t.Errorf("password login while SSO is unavailable: %d %s", code, body)
	}
}

// browser is a browser: a cookie jar, and redirects left to the test.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, target string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// startBrowserLogin opens /auth/login?return=... and signs in at the
// provider; it returns the redirect to /auth/callback, not yet followed.
func (f *ssoFixture) startBrowserLogin(t *testing.T, b *http.Client, user, query string) string {
	t.Helper()
	resp, body := get(t, b, f.srv.URL+server.PathAuthLogin+query)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("%s: %d %s", server.PathAuthLogin, resp.StatusCode, body)
	}
	st := cookie(resp, server.SSOStateCookie)
	if st == nil || !st.HttpOnly || st.SameSite != http.SameSiteLaxMode || st.Path != "/auth/" || st.MaxAge <= 0 || st.MaxAge > 600 {
		t.Errorf("state cookie %+v: want HttpOnly, SameSite=Lax, Path=/auth/, at most 10 minutes", st)
	}
	authURL := resp.Header.Get("Location")
	if !strings.HasPrefix(authURL, f.provider.Issuer) || !strings.Contains(authURL, "code_challenge_method=S256") || !strings.Contains(authURL, "nonce=") {
		t.Errorf("sent to %s: want the provider, with a PKCE challenge and a nonce", authURL)
	}
	redirect, err := f.provider.Login(t.Context(), authURL, user, "pw")
	if err != nil {
		t.Fatal(err)
	}
	return redirect
}

func TestBrowserSignIn(t *testing.T) {
	f := newSSO(t)
	b := browser(t)
	redirect := f.startBrowserLogin(t, b, "alice", "?return="+url.QueryEscape("/applications?project=team-a"))
	if !strings.HasPrefix(redirect, f.srv.URL+server.PathAuthCallback+"?") {
		t.Fatalf("the provider sent the browser to %s", redirect)
	}
	resp, body := get(t, b, redirect)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/applications?project=team-a" {
		t.Fatalf("callback: %d %s, to %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	sess := cookie(resp, server.SessionCookie)
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", sess)
	}
	if st := cookie(resp, server.SSOStateCookie); st == nil || st.MaxAge >= 0 {
		t.Errorf("the state cookie was not cleared: %+v", st)
	}
	// The cookie is the session: who am I, and what the policy lets alice read.
	resp, body = get(t, b, f.srv.URL+server.PathSession)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"alice"`) || !strings.Contains(body, `"method":"sso"`) {
		t.Fatalf("whoami with the session cookie: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, b, f.srv.URL+server.PathApplications); resp.StatusCode != http.StatusOK {
		t.Errorf("list with the session cookie: %d %s", resp.StatusCode, body)
	}
	// The same callback again: the sign-in is over.
	if resp, body := get(t, b, redirect); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no sign-in is in progress") {
		t.Errorf("replayed callback: %d %s; want 400", resp.StatusCode, body)
	}
}

func TestBrowserSignInRefusals(t *testing.T) {
	f := newSSO(t)
	callback := func(t *testing.T, b *http.Client, target string, want int, says string) {
		t.Helper()
		resp, body := get(t, b, target)
		if resp.StatusCode != want || !strings.Contains(body, says) {
			t.Errorf("callback: %d %s; want %d mentioning %q", resp.StatusCode, body, want, says)
		}
		if want >= 400 && cookie(resp, server.SessionCookie) != nil {
			t.Errorf("a refused callback set a session cookie")
		}
	}
	t.Run("state mismatch", func(t *testing.T) {
		b := browser(t)
		u, _ := url.Parse(f.startBrowserLogin(t, b, "alice", ""))
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
		callback(t, b, u.String(), http.StatusBadRequest, "state is not the one")
	})
	t.Run("no state cookie", func(t *testing.T) {
		redirect := f.startBrowserLogin(t, browser(t), "alice", "")
		callback(t, browser(t), redirect, http.StatusBadRequest, "no sign-in is in progress")
	})
	t.Run("replayed with the old cookie", func(t *testing.T) {
		b := browser(t)
		redirect := f.startBrowserLogin(t, b, "alice", "")
		u, _ := url.Parse(f.srv.URL + server.PathAuthCallback)
		saved := b.Jar.Cookies(u)
		callback(t, b, redirect, http.StatusSeeOther, "")
		replay := browser(t)
		replay.Jar.SetCookies(u, saved)
		callback(t, replay, redirect, http.StatusBadRequest, "refused the authorization code")
	})
	t.Run("the user cancels", func(t *testing.T) {
		b := browser(t)
		resp, _ := get(t, b, f.srv.URL+server.PathAuthLogin)
		redirect, err := f.provider.Deny(t.Context(), resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		callback(t, b, redirect, http.StatusForbidden, "access_denied")
	})
	t.Run("a local account's name", func(t *testing.T) {
		b := browser(t)
		callback(t, b, f.startBrowserLogin(t, b, "admin", ""), http.StatusForbidden, "local account")
	})
	t.Run("no code", func(t *testing.T) {
		b := browser(t)
		redirect := f.startBrowserLogin(t, b, "alice", "")
		u, _ := url.Parse(redirect)
		q := u.Query()
		q.Del("code")
		u.RawQuery = q.Encode()
		callback(t, b, u.String(), http.StatusBadRequest, "neither a code nor an error")
	})
	t.Run("return to another site", func(t *testing.T) {
		for _, ret := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", "/auth/login", "/a\nb", "javascript:alert(1)", "/" + strings.Repeat("a", 2000)} {
			resp, body := get(t, browser(t), f.srv.URL+server.PathAuthLogin+"?return="+url.QueryEscape(ret))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || cookie(resp, server.SSOStateCookie) != nil {
				t.Errorf("return %.40q: %d %s, to %q; want 400 and no redirect", ret, resp.StatusCode, body, resp.Header.Get("Location"))
			}
		}
	})
}

// Only the routes that log in are public; a new one must be added here on
// purpose.
func TestOnlyLoginRoutesArePublic(t *testing.T) {
	var public []string
	for _, rt := range newAPI(t).server.Routes() {
		if rt.Public {
			public = append(public, rt.Method+" "+rt.Pattern)
		}
	}
	slices.Sort(public)
	want := []string{"GET /api/v1/auth/config", "GET /auth/callback", "GET /auth/login", "POST /api/v1/session", "POST /api/v1/session/sso"}
	if !slices.Equal(public, want) {
		t.Errorf("public routes %q, want %q", public, want)
	}
}
