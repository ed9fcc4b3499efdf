package oidc

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The provider's own pages. The library redirects an authorization request to
// the client's login URL; the login page authenticates the user and sends the
// browser back to the library's callback, which redirects to the client.
const (
	loginPath  = "/login"
	devicePath = "/device"
)

// maxFormBytes bounds what the pages read from a request body.
const maxFormBytes = 64 << 10

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Sign in</title></head><body>
<h1>Sign in</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="` + loginPath + `">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button name="action" value="login">Sign in</button>
<button name="action" value="deny">Cancel</button>
</form></body></html>
`))

var devicePage = template.Must(template.New("device").Parse(`<!doctype html>
<html><head><title>Connect a device</title></head><body>
<h1>Connect a device</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="` + devicePath + `">
<label>Code <input name="user_code" value="{{.ID}}"></label>
<label>Username <input name="username"></label>
<label>Password <input type="password" name="password"></label>
<button name="action" value="login">Allow</button>
<button name="action" value="deny">Deny</button>
</form></body></html>
`))

type pageData struct{ ID, Error string }

func render(w http.ResponseWriter, page *template.Template, status int, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, data)
}

// loginHandler serves the login form of the authorization-code flow.
func (p *Provider) loginHandler() http.Handler {
	// The interceptor puts the issuer in the context, for AuthCallbackURL.
	return op.NewIssuerInterceptor(p.op.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			render(w, loginPage, http.StatusOK, pageData{ID: r.URL.Query().Get("authRequestID")})
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			id := r.PostForm.Get("id")
			req, err := p.store.AuthRequestByID(r.Context(), id)
			if err != nil {
				render(w, loginPage, http.StatusBadRequest, pageData{Error: "unknown or finished sign-in request"})
				return
			}
			if r.PostForm.Get("action") == "deny" {
				// Redirects to the client with error=access_denied and its state.
				op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user cancelled the sign-in"), p.op)
				return
			}
			subject, ok := p.store.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
			if !ok {
				render(w, loginPage, http.StatusUnauthorized, pageData{ID: id, Error: "wrong username or password"})
				return
			}
			if err := p.store.completeAuthRequest(id, subject); err != nil {
				render(w, loginPage, http.StatusBadRequest, pageData{Error: "unknown or finished sign-in request"})
				return
			}
			http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// deviceHandler serves the page where a user enters a device's user code.
func (p *Provider) deviceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			render(w, devicePage, http.StatusOK, pageData{ID: r.URL.Query().Get("user_code")})
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			code := r.PostForm.Get("user_code")
			subject, ok := p.store.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
			if !ok {
				render(w, devicePage, http.StatusUnauthorized, pageData{ID: code, Error: "wrong username or password"})
				return
			}
			if err := p.store.decideDevice(code, subject, r.PostForm.Get("action") != "deny"); err != nil {
				render(w, devicePage, http.StatusBadRequest, pageData{ID: code, Error: "unknown or expired code"})
				return
			}
			_, _ = io.WriteString(w, "done: return to your device\n")
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// ErrLoginRefused is returned by Login when the provider refuses the username
// or password.
var ErrLoginRefused = errors.New("the provider refused the username or password")

// Login signs in as a browser would: it opens authURL (the client's
// authorization request), fills the login form with user and password, and
// follows the provider's redirects until one leaves the provider. It returns
// that redirect's URL, the client's redirect URI with code and state (or with
// error, if the provider refused the request), without requesting it.
func (p *Provider) Login(ctx context.Context, authURL, user, password string) (string, error) {
	return p.answerLogin(ctx, authURL, url.Values{"username": {user}, "password": {password}, "action": {"login"}})
}

// Deny opens authURL and presses Cancel on the login form; the URL returned
// carries error=access_denied.
func (p *Provider) Deny(ctx context.Context, authURL string) (string, error) {
	return p.answerLogin(ctx, authURL, url.Values{"action": {"deny"}})
}

func (p *Provider) answerLogin(ctx context.Context, authURL string, form url.Values) (string, error) {
	browser := p.browser()
	resp, err := p.do(ctx, browser, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	if loc, ok := p.leaving(resp); ok { // the provider refused the request itself
		return loc, nil
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != loginPath {
		return "", fmt.Errorf("GET %s: expected the login form, got %s: %s", authURL, resp.Status, resp.body)
	}
	form.Set("id", resp.Request.URL.Query().Get("authRequestID"))
	resp, err = p.do(ctx, browser, http.MethodPost, p.Issuer+loginPath, form)
	if err != nil {
		return "", err
	}
	if loc, ok := p.leaving(resp); ok {
		return loc, nil
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return "", ErrLoginRefused
	}
	return "", fmt.Errorf("POST %s: expected a redirect to the client, got %s: %s", loginPath, resp.Status, resp.body)
}

// ApproveDevice signs in on the device page and allows the device that shows
// userCode.
func (p *Provider) ApproveDevice(ctx context.Context, userCode, user, password string) error {
	return p.answerDevice(ctx, url.Values{"user_code": {userCode}, "username": {user}, "password": {password}, "action": {"login"}})
}

// DenyDevice signs in on the device page and denies the device that shows
// userCode.
func (p *Provider) DenyDevice(ctx context.Context, userCode, user, password string) error {
	return p.answerDevice(ctx, url.Values{"user_code": {userCode}, "username": {user}, "password": {password}, "action": {"deny"}})
}

func (p *Provider) answerDevice(ctx context.Context, form url.Values) error {
	resp, err := p.do(ctx, p.browser(), http.MethodPost, p.Issuer+devicePath, form)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return ErrLoginRefused
	}
	return fmt.Errorf("POST %s: %s: %s", devicePath, resp.Status, resp.body)
}

// browser is a client with a cookie jar that follows redirects inside the
// provider and stops at the first one that leaves it.
func (p *Provider) browser() *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	c := p.server.Client()
	c.Jar = jar
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		if !p.owns(req.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

func (p *Provider) owns(u *url.URL) bool {
	return strings.HasPrefix(u.String(), p.Issuer+"/")
}

type response struct {
	*http.Response
	body string // the start of the body, for errors
}

func (p *Provider) do(ctx context.Context, c *http.Client, method, target string, form url.Values) (response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return response{Response: resp, body: string(start)}, nil
}

// leaving returns the Location of a redirect out of the provider.
func (p *Provider) leaving(resp response) (string, bool) {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return "", false
	}
	loc, err := resp.Location()
	if err != nil || p.owns(loc) {
		return "", false
	}
	return loc.String(), true
}
