package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Writer changes one of the auth Secrets: it reads Secret name (empty data
// when missing), lets mutate change the data, and writes it back, retrying on
// a conflicting write; it returns the data as written.
type Writer interface {
	Update(ctx context.Context, name string, mutate func(data map[string][]byte) error) (map[string][]byte, error)
}

// Options configure an Authenticator.
type Options struct {
	// SessionTTL is how long a session lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// PasswordCost is bcrypt's cost for new passwords (0: DefaultPasswordCost).
	PasswordCost int
	// LedgerToken is the shared read-only token of earlier releases; empty
	// disables it.
	LedgerToken string
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Authenticator tells who a caller is. Its state is loaded from the auth
// Secrets (Load) and changed through the Writer, which loads what it wrote.
type Authenticator struct {
	opts   Options
	writer Writer
	limits *loginLimits

	accounts atomic.Pointer[map[string]Account]
	tokens   atomic.Pointer[map[string]Token]
	sessions atomic.Pointer[sessionState]

	// mu serializes writes, so that two logouts do not race on the Secret.
	mu sync.Mutex
}

// New returns an Authenticator that knows nobody until Load is called.
func New(w Writer, opts Options) *Authenticator {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	a := &Authenticator{opts: opts, writer: w, limits: newLoginLimits(opts.Clock)}
	a.accounts.Store(&map[string]Account{})
	a.tokens.Store(&map[string]Token{})
	return a
}

// Load takes the content of one auth Secret (nil when it was deleted). It
// returns the problems found; what could be read is used.
func (a *Authenticator) Load(name string, data map[string][]byte) []error {
	switch name {
	case SecretAccounts:
		accounts, errs := ParseAccounts(data)
		a.accounts.Store(&accounts)
		return errs
	case SecretTokens:
		tokens, errs := ParseTokens(data)
		a.tokens.Store(&tokens)
		return errs
	case SecretSessions:
		st, err := parseSessionState(data)
		if err != nil {
			// Without a key no session can be opened or checked: keep none.
			a.sessions.Store(nil)
			return []error{err}
		}
		a.sessions.Store(&st)
	}
	return nil
}

// Ready says why no session can be opened yet, or nil.
func (a *Authenticator) Ready() error {
	if a.sessions.Load() == nil {
		return fmt.Errorf("no session key loaded from Secret %s", SecretSessions)
	}
	return nil
}

// Errors of authentication. Their text is safe to show the caller.
var (
	ErrNoCredentials = errors.New("authentication required: log in (lockstep login) or give a bearer token")
	ErrBadToken      = errors.New("the API token is not valid: it is malformed, unknown, revoked or expired")
	ErrTooManyTries  = errors.New("too many logins: wait a minute and try again")
)

// Authenticate tells who presents credential: a session token, an API token
// or the ledger token.
func (a *Authenticator) Authenticate(credential string) (Principal, error) {
	now := a.opts.Clock()
	switch {
	case credential == "":
		return Principal{}, ErrNoCredentials
	case strings.HasPrefix(credential, SessionPrefix):
		return a.authenticateSession(credential, now)
	case strings.HasPrefix(credential, TokenPrefix):
		return a.authenticateToken(credential, now)
	case a.opts.LedgerToken != "" && subtle.ConstantTimeCompare([]byte(credential), []byte(a.opts.LedgerToken)) == 1:
		return Principal{Name: ledgerTokenSubject, Method: MethodLedgerToken, Roles: []string{"role:readonly"}}, nil
	}
	return Principal{}, ErrBadToken
}

func (a *Authenticator) authenticateSession(token string, now time.Time) (Principal, error) {
	st := a.sessions.Load()
	if st == nil {
		return Principal{}, errBadSession
	}
	s, err := openSession(st.key, token, now)
	if err != nil {
		return Principal{}, err
	}
	if _, gone := st.revoked[s.ID]; gone {
		return Principal{}, errors.New("the session was ended (logged out): log in again")
	}
	if s.Method == MethodPassword {
		acct, ok := (*a.accounts.Load())[s.Subject]
		switch {
		case !ok || acct.Disabled:
			return Principal{}, fmt.Errorf("the account %q no longer exists or is disabled", s.Subject)
		case generation(acct.PasswordHash) != s.Generation:
			return Principal{}, errors.New("the password was changed since this session began: log in again")
		}
	}
	if s.Method == MethodSSO {
		if err := a.ssoNameTaken(s.Subject); err != nil {
			return Principal{}, err
		}
	}
	return Principal{Name: s.Subject, Method: s.Method, Groups: s.Groups, Session: s.ID, Expiry: time.Unix(s.Expires, 0)}, nil
}

func (a *Authenticator) authenticateToken(credential string, now time.Time) (Principal, error) {
	id, key, ok := splitToken(credential)
	if !ok {
		return Principal{}, ErrBadToken
	}
	t, ok := (*a.tokens.Load())[id]
	if !ok || !t.matches(key) {
		return Principal{}, ErrBadToken
	}
	if !now.Before(t.ExpiresAt) {
		return Principal{}, fmt.Errorf("the API token %q expired at %s", t.Name, t.ExpiresAt.Format(time.RFC3339))
	}
	if t.CreatorMethod == MethodPassword {
		if acct, ok := (*a.accounts.Load())[t.CreatedBy]; !ok || acct.Disabled {
			return Principal{}, fmt.Errorf("the API token %q was created by %s, whose account no longer exists or is disabled", t.Name, t.CreatedBy)
		}
	}
	return Principal{Name: tokenSubjectPrefix + t.Name, Method: MethodToken, Roles: t.Roles, Projects: t.Projects, Session: id, Expiry: t.ExpiresAt,
		Owner: t.CreatedBy, OwnerGroups: t.CreatorGroups, OwnerMethod: t.CreatorMethod}, nil
}

// Session is a newly opened session: the token to present, and who it is.
type Session struct {
	Token     string    `json:"token"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Login checks a local account's password, tried from address (the
// client's IP), and opens a session. Tries are limited (see loginLimits);
// every answer to a wrong name or password is the same ErrBadCredentials.
func (a *Authenticator) Login(ctx context.Context, name, password, address string) (Session, error) {
	if !a.limits.allow(name, address) {
		return Session{}, ErrTooManyTries
	}
	acct, ok := (*a.accounts.Load())[name]
	hash := acct.PasswordHash
	if !ok || hash == "" {
		// Compare anyway, so that a missing account takes as long as a wrong
		// password.
		hash = dummyHash
	}
	matched, ran := a.limits.compare(ctx, func() bool { return passwordMatches(hash, password) })
	if !ran {
		return Session{}, ErrTooManyTries
	}
	if !matched || !ok || acct.PasswordHash == "" || acct.Disabled {
		return Session{}, ErrBadCredentials
	}
	return a.open(session{Subject: name, Method: MethodPassword, Generation: generation(acct.PasswordHash)})
}

// LoginSSO opens a session for a user the identity provider vouched for,
// with the groups it named. A username another kind of caller already goes
// by is refused with ErrSSONameTaken.
func (a *Authenticator) LoginSSO(username string, groups []string) (Session, error) {
	if username == "" {
		return Session{}, errors.New("the identity provider named no user")
	}
	if err := a.ssoNameTaken(username); err != nil {
		return Session{}, err
	}
	return a.open(session{Subject: username, Method: MethodSSO, Groups: groups})
}

// ErrSSONameTaken refuses a single sign-on user named like a local account,
// an API token ("token/<name>") or the ledger token. RBAC knows every caller
// by that one name, so the provider's user would act with the other's
// permissions: an SSO user called "admin" with the local admin's.
var ErrSSONameTaken = errors.New("single sign-on refused")

// The names of callers that are not accounts: "token/<name>" for an API
// token, and the ledger token's.
const (
	tokenSubjectPrefix = "token/"
	ledgerTokenSubject = "ledger-token"
)

// ssoNameTaken says why username cannot be an SSO user's, or nil. It is a
// map lookup: authenticateSession asks it on every request, so an account
// created after an SSO login of the same name ends that session.
func (a *Authenticator) ssoNameTaken(username string) error {
	if strings.HasPrefix(username, tokenSubjectPrefix) || username == ledgerTokenSubject {
		return fmt.Errorf("%w: the username %q is reserved for API tokens", ErrSSONameTaken, username)
	}
	if _, ok := (*a.accounts.Load())[username]; ok {
		return fmt.Errorf("%w: the username %q is a local account's: rename one of them, or name users by another claim (--oidc-username-claim)",
			ErrSSONameTaken, username)
	}
	return nil
}

func (a *Authenticator) open(s session) (Session, error) {
	st := a.sessions.Load()
	if st == nil {
		return Session{}, a.Ready()
	}
	now := a.opts.Clock()
	var err error
	if s.ID, err = newSessionID(); err != nil {
		return Session{}, err
	}
	s.IssuedAt, s.Expires = now.Unix(), now.Add(a.opts.SessionTTL).Unix()
	token, err := signSession(st.key, s)
	if err != nil {
		return Session{}, err
	}
	return Session{Token: token, Name: s.Subject, ExpiresAt: time.Unix(s.Expires, 0).UTC()}, nil
}

// Logout ends p's session before its expiry. It does nothing for tokens:
// revoke those.
func (a *Authenticator) Logout(ctx context.Context, p Principal) error {
	if p.Method != MethodPassword && p.Method != MethodSSO {
		return nil
	}
	now := a.opts.Clock().Unix()
	return a.update(ctx, SecretSessions, func(data map[string][]byte) error {
		st, err := parseSessionState(data)
		if err != nil {
			return err
		}
		for id, exp := range st.revoked {
			if exp < now {
				delete(st.revoked, id)
			}
		}
		if len(st.revoked) >= maxRevoked {
			return inputErrorf("too many sessions ended before their expiry are remembered; try again later")
		}
		st.revoked[p.Session] = p.Expiry.Unix()
		return putJSON(data, "revoked", st.revoked)
	})
}

// maxRevoked bounds the revocation list (a Secret holds 1 MiB).
const maxRevoked = 10000

// update writes one Secret through the Writer and loads the result at once,
// so that the caller's next request sees it.
func (a *Authenticator) update(ctx context.Context, name string, mutate func(map[string][]byte) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	data, err := a.writer.Update(ctx, name, mutate)
	if err != nil {
		return err
	}
	if errs := a.Load(name, maps.Clone(data)); len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
