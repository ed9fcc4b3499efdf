package server

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// NewAccount is the body of POST /api/v1/accounts.
type NewAccount struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// NewToken is the answer to POST /api/v1/tokens: the token, shown once.
type NewToken struct {
	Token string         `json:"token"`
	Info  auth.TokenInfo `json:"info"`
}

// accountError turns a refusal of the auth package into a 4xx answer.
func accountError(err error) error {
	var nf *auth.NotFoundError
	switch {
	case errors.As(err, &nf):
		return notFound("%s", err)
	case errors.Is(err, auth.ErrTooManyTries):
		return &apiError{status: http.StatusTooManyRequests, err: err}
	case errors.As(err, new(*auth.InputError)):
		return badRequest(err)
	}
	return err
}

// mayManage refuses to let the caller create, reset or delete an account
// that holds (as a user named so, by the policy now) a role the caller does
// not: a password reset must not be a way to the rights of another account,
// and an account named like a group must not get that group's roles.
func (s *Server) mayManage(c *call, name string) error {
	held := c.rbac.Subjects()
	if slices.Contains(held, rbac.Admin) {
		return nil
	}
	target := s.d.Policy.Policy().Resolve(rbac.Subjects{User: name}).Subjects()
	if name == auth.AdminAccount {
		target = append(target, rbac.Admin)
	}
	for _, r := range target {
		if strings.HasPrefix(r, rbac.RolePrefix) && !slices.Contains(held, r) {
			return forbidden("account %q holds %s, which you do not: only someone who holds it may create, reset or delete that account", name, r)
		}
	}
	return nil
}

func (s *Server) listAccounts(w http.ResponseWriter, _ *http.Request, _ *call) error {
	return writeJSON(w, map[string]any{"items": s.d.Auth.Accounts()})
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	var req NewAccount
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := s.mayManage(c, req.Name); err != nil {
		return err
	}
	if err := s.d.Auth.CreateAccount(r.Context(), req.Name, req.Password); err != nil {
		return accountError(err)
	}
	s.d.Log.Info("account created", "account", req.Name, "by", c.principal.Actor())
	return writeJSONStatus(w, http.StatusCreated, map[string]string{"name": req.Name})
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	var req PasswordChange
	if err := readJSON(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.mayManage(c, name); err != nil {
		return err
	}
	if err := s.d.Auth.SetPassword(r.Context(), name, "", req.New, true); err != nil {
		return accountError(err)
	}
	s.d.Log.Info("password set", "account", name, "by", c.principal.Actor())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	if err := s.mayManage(c, name); err != nil {
		return err
	}
	if err := s.d.Auth.DeleteAccount(r.Context(), name); err != nil {
		return accountError(err)
	}
	s.d.Log.Info("account deleted", "account", name, "by", c.principal.Actor())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, _ *http.Request, _ *call) error {
	return writeJSON(w, map[string]any{"items": s.d.Auth.Tokens()})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req auth.TokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	// A token may hold only roles its creator holds (an admin's, any role):
	// tokens create is not a way to more rights.
	held := c.rbac.Subjects()
	if !slices.Contains(held, rbac.Admin) {
		for _, role := range req.Roles {
			if !slices.Contains(held, role) {
				return forbidden("you do not hold %s, so a token you create may not either", role)
			}
		}
	}
	secret, info, err := s.d.Auth.CreateToken(r.Context(), req, c.principal)
	if err != nil {
		return accountError(err)
	}
	s.d.Log.Info("API token created", "token", info.Name, "id", info.ID, "roles", info.Roles, "by", c.principal.Actor())
	return writeJSONStatus(w, http.StatusCreated, NewToken{Token: secret, Info: info})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if err := s.d.Auth.RevokeToken(r.Context(), id); err != nil {
		return accountError(err)
	}
	s.d.Log.Info("API token revoked", "id", id, "by", c.principal.Actor())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
