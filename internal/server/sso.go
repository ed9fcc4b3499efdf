package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// Single sign-on against the perimeter's OpenID provider. The provider's
// tokens are never kept: an identity it vouched for opens a Lockstep session,
// as a password does. Two ways in:
//
//   - the browser: GET /auth/login sends it to the provider (authorization
//     code with PKCE), GET /auth/callback redeems the code and sets the
//     session cookie;
//   - the CLI: it signs in as the provider's public client itself (package
//     auth's LoginLoopback or LoginDevice) and trades the ID token for a
//     session at POST /api/v1/session/sso.
//
// Either way the username must not be a local account's (auth.ErrSSONameTaken).

// RelyingParty is single sign-on's relying party, *auth.OIDC.
//
// A relying party whose provider may not be discovered yet (the controller's,
// which keeps retrying discovery) also has a method Ready() error saying why
// it cannot serve now; the server asks it before each use and answers 503.
type RelyingParty interface {
	AuthCodeURL(state, verifier, nonce string) string
	Exchange(ctx context.Context, code, verifier, nonce string) (auth.Identity, error)
	Verify(ctx context.Context, rawIDToken string) (auth.Identity, error)
}

// OIDCPublic is what a client needs to sign in with the provider: nothing
// secret. GET /api/v1/auth/config shows it.
type OIDCPublic struct {
	Issuer string `json:"issuer"`
	// CLIClientID is the provider's public client for `lockstep login --sso`;
	// empty when none is registered (the browser alone can sign in).
	CLIClientID string   `json:"cliClientID,omitempty"`
	Scopes      []string `json:"scopes"`
	// UsernameClaim and GroupsClaim name the claims the server reads, so the
	// CLI reads the ID token it gets the same way.
	UsernameClaim string `json:"usernameClaim"`
	GroupsClaim   string `json:"groupsClaim"`
	// CertificateAuthority is the PEM of the CA that signed the provider's
	// certificate, when the controller was given one (--oidc-ca-file).
	CertificateAuthority string `json:"certificateAuthority,omitempty"`
}

// PublicOIDC is what cfg shows clients, its defaults applied.
func PublicOIDC(cfg auth.OIDCConfig, caPEM string) OIDCPublic {
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = auth.DefaultOIDCScopes
	}
	return OIDCPublic{
		Issuer:               cfg.Issuer,
		CLIClientID:          cfg.CLIClientID,
		Scopes:               slices.Clone(scopes),
		UsernameClaim:        cmp.Or(cfg.UsernameClaim, auth.DefaultOIDCUsernameClaim),
		GroupsClaim:          cmp.Or(cfg.GroupsClaim, auth.DefaultOIDCGroupsClaim),
		CertificateAuthority: caPEM,
	}
}

// AuthConfig is the answer to GET /api/v1/auth/config: how to log in besides
// a local account's password. SSO is nil when single sign-on is off.
type AuthConfig struct {
	SSO *OIDCPublic `json:"sso,omitempty"`
}

// SSOLoginRequest is the body of POST /api/v1/session/sso.
type SSOLoginRequest struct {
	IDToken string `json:"idToken"`
}

// SSOStateCookie carries a browser sign-in's state, nonce and PKCE verifier
// from /auth/login to /auth/callback.
const SSOStateCookie = "lockstep_sso"

const (
	// ssoStateLifetime is how long a browser has to come back from the
	// provider.
	ssoStateLifetime = 10 * time.Minute
	// maxReturnPath bounds the page /auth/callback sends the browser back to.
	maxReturnPath = 1024
)

func (s *Server) authConfig(w http.ResponseWriter, _ *http.Request, _ *call) error {
	var c AuthConfig
	if s.d.OIDC != nil {
		pub := s.d.OIDCPublic
		c.SSO = &pub
	}
	return writeJSON(w, c)
}

// relyingParty returns the relying party, or the answer to give when there
// is none to use.
func (s *Server) relyingParty(r *http.Request) (RelyingParty, error) {
	if s.d.OIDC == nil {
		return nil, notFound("single sign-on is not configured on this server (the controller's --oidc-issuer)")
	}
	if rp, ok := s.d.OIDC.(interface{ Ready() error }); ok {
		if err := rp.Ready(); err != nil {
			return nil, s.providerUnavailable(r, err)
		}
	}
	return s.d.OIDC, nil
}

// providerUnavailable logs why the provider cannot be used and answers 503
// with a request ID: the cause names the provider's hosts and addresses.
func (s *Server) providerUnavailable(r *http.Request, err error) error {
	id := requestID()
	s.d.Log.Error("single sign-on: the identity provider is unavailable", "path", r.URL.Path, "request", id, "error", err.Error())
	return &apiError{status: http.StatusServiceUnavailable, err: fmt.Errorf(
		"single sign-on is unavailable: the identity provider cannot be reached now (the controller's log has the cause as request %s); "+
			"try again later, or log in with a password or an API token", id)}
}

// ssoError turns a failed sign-in into its answer.
func (s *Server) ssoError(r *http.Request, err error) error {
	var perr *auth.OIDCProviderError
	switch {
	case errors.Is(err, auth.ErrIdentityProviderUnavailable):
		return s.providerUnavailable(r, err)
	case errors.Is(err, auth.ErrIDTokenRejected):
		s.d.Log.Info("single sign-on refused", "remote", r.RemoteAddr, "why", err.Error())
		return &apiError{status: http.StatusUnauthorized, err: err}
	case errors.As(err, &perr):
		return forbidden("%s", perr)
	case errors.Is(err, auth.ErrSSONameTaken):
		s.d.Log.Info("single sign-on refused", "remote", r.RemoteAddr, "why", err.Error())
		return &apiError{status: http.StatusForbidden, err: err}
	}
	// The provider refused the code: a replayed or stale callback.
	return badRequest(err)
}

// openSSOSession opens a session for the identity the provider vouched for.
// It carries only the groups the RBAC policy names: the others decide
// nothing, and hundreds of them would not fit a cookie. A group the policy
// names later counts from the next sign-in.
func (s *Server) openSSOSession(r *http.Request, id auth.Identity) (auth.Session, error) {
	policy := s.d.Policy.Policy()
	var groups []string
	for _, g := range id.Groups {
		if policy.Names(g) {
			groups = append(groups, g)
		}
	}
	sess, err := s.d.Auth.LoginSSO(id.Username, groups)
	if err != nil {
		if errors.Is(err, auth.ErrSSONameTaken) {
			return auth.Session{}, s.ssoError(r, err)
		}
		return auth.Session{}, err
	}
	s.d.Log.Info("logged in", "user", sess.Name, "method", auth.MethodSSO, "groups", len(id.Groups), "groupsThePolicyNames", len(groups), "remote", r.RemoteAddr)
	return sess, nil
}

// loginSSO trades an ID token the CLI got from the provider for a session.
func (s *Server) loginSSO(w http.ResponseWriter, r *http.Request, _ *call) error {
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	var req SSOLoginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.IDToken == "" {
		return badRequest(errors.New("give idToken: the ID token the identity provider issued to Lockstep's CLI client"))
	}
	id, err := rp.Verify(r.Context(), req.IDToken)
	if err != nil {
		return s.ssoError(r, err)
	}
	sess, err := s.openSSOSession(r, id)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, sess.Token, sess.ExpiresAt)
	return writeJSON(w, sess)
}

// ssoState is what /auth/login leaves in the browser for /auth/callback.
type ssoState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
}

// ssoStart sends the browser to the provider's sign-in page.
func (s *Server) ssoStart(w http.ResponseWriter, r *http.Request, _ *call) error {
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	ret, err := returnPath(r.URL.Query().Get("return"))
	if err != nil {
		return badRequest(err)
	}
	st := ssoState{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(), Return: ret}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	s.setStateCookie(w, base64.RawURLEncoding.EncodeToString(raw), ssoStateLifetime)
	http.Redirect(w, r, rp.AuthCodeURL(st.State, st.Verifier, st.Nonce), http.StatusFound)
	return nil
}

// ssoCallback finishes a browser sign-in: the state cookie must match the
// redirect's state; it is cleared whatever happens, so each sign-in's
// callback is taken once.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request, _ *call) error {
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	st, ok := readStateCookie(r)
	s.setStateCookie(w, "", -1)
	if !ok {
		return badRequest(errors.New("no sign-in is in progress in this browser (it finished already, took more than 10 minutes, " +
			"or cookies are blocked): start again at " + PathAuthLogin))
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return badRequest(auth.ErrOIDCStateMismatch)
	}
	if err := auth.OIDCCallbackError(q); err != nil {
		return s.ssoError(r, err)
	}
	code := q.Get("code")
	if code == "" {
		return badRequest(errors.New("the identity provider's redirect carries neither a code nor an error"))
	}
	id, err := rp.Exchange(r.Context(), code, st.Verifier, st.Nonce)
	if err != nil {
		return s.ssoError(r, err)
	}
	sess, err := s.openSSOSession(r, id)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, sess.Token, sess.ExpiresAt)
	// The return path was checked by /auth/login; check it again, as the
	// cookie came back from the browser.
	ret, err := returnPath(st.Return)
	if err != nil {
		ret = "/"
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
	return nil
}

// setStateCookie sets (maxAge > 0) or clears (maxAge < 0) the state cookie.
// Lax, not Strict: the browser comes back from the provider's site.
func (s *Server) setStateCookie(w http.ResponseWriter, value string, maxAge time.Duration) {
	seconds := int(maxAge.Seconds())
	if maxAge < 0 {
		seconds = -1
	}
	http.SetCookie(w, &http.Cookie{Name: SSOStateCookie, Value: value, Path: ssoCookiePath, MaxAge: seconds,
		HttpOnly: true, Secure: s.d.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// ssoCookiePath limits the state cookie to /auth/login and /auth/callback.
const ssoCookiePath = "/auth/"

func readStateCookie(r *http.Request) (ssoState, bool) {
	c, err := r.Cookie(SSOStateCookie)
	if err != nil || c.Value == "" {
		return ssoState{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return ssoState{}, false
	}
	var st ssoState
	if json.Unmarshal(raw, &st) != nil || st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return ssoState{}, false
	}
	return st, true
}

// returnPath checks where a sign-in may send the browser back to: a path on
// this server ("/" when empty), never another site. "//host" and "/\host"
// are other sites to a browser.
func returnPath(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	bad := fmt.Errorf("return %.80q: give a path on this server, such as /applications", raw)
	if len(raw) > maxReturnPath || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") ||
		strings.ContainsRune(raw, '\\') || strings.HasPrefix(raw, "/auth/") {
		return "", bad
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return "", bad
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", bad
	}
	return raw, nil
}
