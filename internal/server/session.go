package server

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// LoginRequest is the body of POST /api/v1/session: a local account's name
// and password.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Whoami is the answer to GET /api/v1/session.
type Whoami struct {
	Name      string    `json:"name"`
	Method    string    `json:"method"`
	Groups    []string  `json:"groups,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	Projects  []string  `json:"projects,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req LoginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return badRequest(errors.New("give username and password"))
	}
	sess, err := s.d.Auth.Login(r.Context(), req.Username, req.Password, clientAddress(r))
	switch {
	case errors.Is(err, auth.ErrTooManyTries):
		w.Header().Set("Retry-After", "60")
		return &apiError{status: http.StatusTooManyRequests, err: err}
	case errors.Is(err, auth.ErrBadCredentials):
		// The name is logged only when it is an account's: a password typed
		// into the name field must not reach the log.
		name := "(no such account)"
		if s.d.Auth.HasAccount(req.Username) {
			name = req.Username
		}
		s.d.Log.Info("login refused", "account", name, "remote", r.RemoteAddr)
		return &apiError{status: http.StatusUnauthorized, err: err}
	case err != nil:
		return err
	}
	s.d.Log.Info("logged in", "account", sess.Name, "remote", r.RemoteAddr)
	s.setSessionCookie(w, sess.Token, sess.ExpiresAt)
	return writeJSON(w, sess)
}

// setSessionCookie hands a browser its session: not readable by scripts,
// sent only to this server and only from its own pages.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.d.SecureCookies, SameSite: http.SameSiteStrictMode})
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, c *call) error {
	p := c.principal
	return writeJSON(w, Whoami{Name: p.Name, Method: string(p.Method), Groups: p.Groups, Roles: p.Roles, Projects: p.Projects, ExpiresAt: p.Expiry})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.d.Auth.Logout(r.Context(), c.principal); err != nil {
		if errors.As(err, new(*auth.InputError)) {
			return &apiError{status: http.StatusServiceUnavailable, err: err}
		}
		return err
	}
	s.setSessionCookie(w, "", time.Unix(1, 0))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PasswordChange is the body of PUT /api/v1/session/password and
// PUT /api/v1/accounts/{name}/password (where Current is not needed).
type PasswordChange struct {
	Current string `json:"current,omitempty"`
	New     string `json:"new"`
}

func (s *Server) changeOwnPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.principal.Method != auth.MethodPassword {
		return badRequest(errors.New("only a local account logged in with its password can change it"))
	}
	var req PasswordChange
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := s.d.Auth.SetPassword(r.Context(), c.principal.Name, req.Current, req.New, false); err != nil {
		return accountError(err)
	}
	s.d.Log.Info("password changed", "account", c.principal.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clientAddress is the caller's IP, for login limits.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
