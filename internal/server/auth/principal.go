// Package auth authenticates the callers of Lockstep's API: local accounts
// with passwords, sessions, API tokens, OpenID Connect single sign-on, and the
// shared ledger token of earlier releases. It answers "who is this", never
// "may they": that is package rbac's.
//
// Its state lives in Secrets of the controller's namespace (see SecretAccounts,
// SecretTokens, SecretSessions), read through a watch and written through the
// Writer the controller gives it, so the package itself touches no cluster.
package auth

import (
	"fmt"
	"slices"
	"time"
)

// Method is how a caller proved who they are.
type Method string

// Methods.
const (
	MethodPassword Method = "password" // a local account's session
	MethodSSO      Method = "sso"      // a session from the identity provider
	MethodToken    Method = "token"    // an API token
	// MethodLedgerToken is the shared read-only token of earlier releases: it
	// may read the ledger and nothing else.
	MethodLedgerToken Method = "ledger-token"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name is the RBAC subject: a local account's name, the identity
	// provider's username, or "token/<name>" for an API token.
	Name   string
	Method Method
	// Groups are the identity provider's groups (SSO only).
	Groups []string
	// Roles, when not nil, are the only roles the caller acts with (an API
	// token's scope); nil means the subject's own roles.
	Roles []string
	// Projects, when not empty, are the only Projects (globs) the caller may
	// touch (an API token's scope).
	Projects []string
	// Owner and OwnerGroups are, for an API token, who created it and their
	// groups then: the token never does what its creator is denied.
	Owner       string
	OwnerGroups []string
	// OwnerMethod is how the creator had logged in (password: a local account).
	OwnerMethod Method
	// Session is the session's or the token's ID, for logout and revocation.
	Session string
	// Expiry is when the session or token stops working.
	Expiry time.Time
}

// Actor is how the ledger names the caller: the account's name, the
// provider's username for SSO; a token is named with its creator.
// A token is named with its creator: "token/ci(alice)".
func (p Principal) Actor() string {
	if p.Method == MethodToken && p.Owner != "" {
		return p.Name + "(" + p.Owner + ")"
	}
	return p.Name
}

// Account is whose the caller is: a token's creator, else the caller's own
// name. Limits per caller (open streams, previews) count by it, so that
// the tokens one person creates share that person's allowance rather than
// each bringing a new one.
func (p Principal) Account() string {
	if p.Method == MethodToken && p.Owner != "" {
		return p.Owner
	}
	return p.Name
}

// Clone returns a copy that shares no slices.
func (p Principal) Clone() Principal {
	p.Groups = slices.Clone(p.Groups)
	p.Roles = slices.Clone(p.Roles)
	p.Projects = slices.Clone(p.Projects)
	return p
}

// InputError is a refusal the caller caused (a bad name, a short password,
// an unknown token): its text is safe to show them.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

func asInput(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{err}
}
