package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// dummyHash is compared against when an account does not exist, so that
// asking for one takes as long as a wrong password (cost DefaultPasswordCost).
const dummyHash = "$2a$12$C6UzMDM.H6dfI/f/IKxGhuK5t1S/.qUsDhbTRbb7wE2w2uImGD3Ri"

// ErrNoAccount is returned for an account that does not exist.
var ErrNoAccount = &NotFoundError{"no such account"}

// HasAccount reports whether a local account of that name exists.
func (a *Authenticator) HasAccount(name string) bool {
	_, ok := (*a.accounts.Load())[name]
	return ok
}

// Accounts lists the local accounts.
func (a *Authenticator) Accounts() []AccountInfo {
	accts := *a.accounts.Load()
	out := make([]AccountInfo, 0, len(accts))
	for _, name := range sortedKeys(accts) {
		out = append(out, accts[name].Info(name))
	}
	return out
}

// CreateAccount adds a local account with a password.
func (a *Authenticator) CreateAccount(ctx context.Context, name, password string) error {
	if err := CheckAccountName(name); err != nil {
		return asInput(err)
	}
	hash, err := HashPassword(password, a.opts.PasswordCost)
	if err != nil {
		return asInput(err)
	}
	now := a.opts.Clock().UTC()
	return a.update(ctx, SecretAccounts, func(data map[string][]byte) error {
		if _, ok := data[name]; ok {
			return inputErrorf("account %q exists already", name)
		}
		return putJSON(data, name, Account{PasswordHash: hash, PasswordChanged: now})
	})
}

// SetPassword sets name's password. Unless byAdmin, current must be the
// account's present password. Every session of the account ends.
func (a *Authenticator) SetPassword(ctx context.Context, name, current, password string, byAdmin bool) error {
	acct, ok := (*a.accounts.Load())[name]
	if !ok {
		return ErrNoAccount
	}
	if !byAdmin {
		if !a.limits.allow(name, "password change") {
			return ErrTooManyTries
		}
		matched, ran := a.limits.compare(ctx, func() bool { return acct.PasswordHash != "" && passwordMatches(acct.PasswordHash, current) })
		if !ran {
			return ErrTooManyTries
		}
		if !matched {
			return inputErrorf("the current password is wrong")
		}
	}
	hash, err := HashPassword(password, a.opts.PasswordCost)
	if err != nil {
		return asInput(err)
	}
	now := a.opts.Clock().UTC()
	return a.update(ctx, SecretAccounts, func(data map[string][]byte) error {
		var stored Account
		if err := json.Unmarshal(data[name], &stored); err != nil {
			return ErrNoAccount
		}
		stored.PasswordHash, stored.PasswordChanged = hash, now
		return putJSON(data, name, stored)
	})
}

// DeleteAccount removes a local account; its sessions end.
func (a *Authenticator) DeleteAccount(ctx context.Context, name string) error {
	return a.update(ctx, SecretAccounts, func(data map[string][]byte) error {
		if _, ok := data[name]; !ok {
			return ErrNoAccount
		}
		delete(data, name)
		return nil
	})
}

// Tokens lists the API tokens, oldest first.
func (a *Authenticator) Tokens() []TokenInfo {
	tokens := *a.tokens.Load()
	out := make([]TokenInfo, 0, len(tokens))
	for id, t := range tokens {
		out = append(out, t.Info(id))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// maxTokens bounds how many tokens are kept (a Secret holds 1 MiB).
const maxTokens = 1000

// CreateToken makes an API token for what r asks, created by the caller by.
// The returned secret is shown once: only its hash is kept.
func (a *Authenticator) CreateToken(ctx context.Context, r TokenRequest, by Principal) (secret string, info TokenInfo, err error) {
	if err := r.Check(); err != nil {
		return "", TokenInfo{}, asInput(err)
	}
	if by.Method == MethodToken || by.Method == MethodLedgerToken {
		return "", TokenInfo{}, inputErrorf("a token cannot create tokens: log in as a person")
	}
	id, secret, t, err := newToken(r, by.Name, a.opts.Clock())
	if err != nil {
		return "", TokenInfo{}, err
	}
	t.CreatorGroups, t.CreatorMethod = by.Groups, by.Method
	err = a.update(ctx, SecretTokens, func(data map[string][]byte) error {
		if len(data) >= maxTokens {
			return inputErrorf("there are %d tokens already: revoke some first", len(data))
		}
		return putJSON(data, id, t)
	})
	return secret, t.Info(id), err
}

// RevokeToken deletes the token with this ID.
func (a *Authenticator) RevokeToken(ctx context.Context, id string) error {
	return a.update(ctx, SecretTokens, func(data map[string][]byte) error {
		if _, ok := data[id]; !ok {
			return &NotFoundError{fmt.Sprintf("no token %q", id)}
		}
		delete(data, id)
		return nil
	})
}

func putJSON(data map[string][]byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data[key] = b
	return nil
}

// NotFoundError says an account or token does not exist.
type NotFoundError struct{ msg string }

func (e *NotFoundError) Error() string { return e.msg }
