package auth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// memSecrets is the Writer over an in-memory set of Secrets.
type memSecrets struct{ data map[string]map[string][]byte }

func (m *memSecrets) Update(_ context.Context, name string, mutate func(map[string][]byte) error) (map[string][]byte, error) {
	d := maps.Clone(m.data[name])
	if d == nil {
		d = map[string][]byte{}
	}
	if err := mutate(d); err != nil {
		return nil, err
	}
	m.data[name] = d
	return maps.Clone(d), nil
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTestAuth(t *testing.T) (*Authenticator, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	key, err := newSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &memSecrets{data: map[string]map[string][]byte{SecretSessions: {"key": key}}}
	a := New(w, Options{PasswordCost: bcrypt.MinCost, Clock: c.Now, LedgerToken: "0123456789abcdef0123"})
	a.Load(SecretSessions, w.data[SecretSessions])
	if err := a.CreateAccount(context.Background(), "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	return a, c
}

func TestLoginAndSession(t *testing.T) {
	a, c := newTestAuth(t)
	s, err := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(s.Token)
	if err != nil || p.Name != "alice" || p.Method != MethodPassword {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	for _, tc := range []struct{ name, password string }{{"alice", "wrong password!"}, {"bob", "correct horse battery"}, {"", ""}, {"alice", strings.Repeat("x", 100)}} {
		if _, err := a.Login(t.Context(), tc.name, tc.password, "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrBadCredentials", tc.name, tc.password, err)
		}
	}
	c.now = c.now.Add(DefaultSessionTTL)
	if _, err := a.Authenticate(s.Token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired session was accepted: %v", err)
	}
}

func TestForgedAndTamperedSessions(t *testing.T) {
	a, _ := newTestAuth(t)
	s, err := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSessionKey()
	forged, _ := signSession(other, session{ID: "x", Subject: "admin", Method: MethodPassword, Expires: time.Now().Add(time.Hour).Unix()})
	i := strings.LastIndexByte(s.Token, '.')
	tampered := s.Token[:len(SessionPrefix)+2] + "A" + s.Token[len(SessionPrefix)+3:]
	for name, tok := range map[string]string{
		"other key":      forged,
		"tampered":       tampered,
		"no signature":   s.Token[:i+1],
		"signature only": SessionPrefix + "." + s.Token[i+1:],
		"oversized":      SessionPrefix + strings.Repeat("A", maxSessionToken) + "." + s.Token[i+1:],
		"prefix only":    SessionPrefix,
	} {
		if _, err := a.Authenticate(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	a, _ := newTestAuth(t)
	ctx := context.Background()
	s, _ := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1")
	if err := a.SetPassword(ctx, "alice", "wrong", "another long password", false); err == nil {
		t.Fatal("SetPassword with a wrong current password succeeded")
	}
	if err := a.SetPassword(ctx, "alice", "correct horse battery", "another long password", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(s.Token); err == nil || !strings.Contains(err.Error(), "password was changed") {
		t.Errorf("a session of the old password still works: %v", err)
	}
	if _, err := a.Login(t.Context(), "alice", "another long password", "10.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := a.SetPassword(ctx, "alice", "", "short", true); err == nil {
		t.Error("a short password was accepted")
	}
}

func TestLogoutEndsOnlyThatSession(t *testing.T) {
	a, _ := newTestAuth(t)
	s1, _ := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1")
	s2, _ := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1")
	p, _ := a.Authenticate(s1.Token)
	if err := a.Logout(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(s1.Token); err == nil {
		t.Error("the ended session still works")
	}
	if _, err := a.Authenticate(s2.Token); err != nil {
		t.Errorf("the other session stopped working: %v", err)
	}
}

func TestLoginLimits(t *testing.T) {
	a, c := newTestAuth(t)
	for range nameBurst {
		_, _ = a.Login(t.Context(), "alice", "wrong password!", "10.0.0.1")
	}
	if _, err := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1"); !errors.Is(err, ErrTooManyTries) {
		t.Fatalf("after %d failures: %v, want ErrTooManyTries", nameBurst, err)
	}
	// Someone failing on purpose elsewhere does not lock alice out.
	if _, err := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.2"); err != nil {
		t.Errorf("from another address: %v", err)
	}
	c.now = c.now.Add(nameEvery)
	if _, err := a.Login(t.Context(), "alice", "correct horse battery", "10.0.0.1"); err != nil {
		t.Errorf("after waiting: %v", err)
	}
	// Many names from one address: the address's limit holds.
	refused := 0
	for i := range addressBurst + 5 {
		if _, err := a.Login(t.Context(), fmt.Sprintf("user%d", i), "x", "10.0.0.3"); errors.Is(err, ErrTooManyTries) {
			refused++
		}
	}
	if refused == 0 {
		t.Error("an address guessing many names was never limited")
	}
}

func TestTokens(t *testing.T) {
	a, c := newTestAuth(t)
	ctx := context.Background()
	secret, info, err := a.CreateToken(ctx, TokenRequest{Name: "ci", Roles: []string{"role:readonly"}, Projects: []string{"team-a"}, ExpiresIn: "24h"}, Principal{Name: "alice", Method: MethodPassword})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(secret)
	if err != nil || p.Name != "token/ci" || p.Roles[0] != "role:readonly" || p.Projects[0] != "team-a" {
		t.Fatalf("Authenticate(token) = %+v, %v", p, err)
	}
	for _, tok := range a.Tokens() {
		if strings.Contains(tok.ID+tok.Name, secret[len(TokenPrefix)+13:]) {
			t.Error("the token list shows the secret")
		}
	}
	wrong := secret[:len(secret)-1] + "0"
	if strings.HasSuffix(secret, "0") {
		wrong = secret[:len(secret)-1] + "1"
	}
	for name, tok := range map[string]string{"wrong secret": wrong, "truncated": secret[:len(secret)-2], "no prefix": secret[len(TokenPrefix):], "garbage": TokenPrefix + "zz_zz"} {
		if _, err := a.Authenticate(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c.now = c.now.Add(25 * time.Hour)
	if _, err := a.Authenticate(secret); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token: %v", err)
	}
	c.now = c.now.Add(-25 * time.Hour)
	if err := a.RevokeToken(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(secret); err == nil {
		t.Error("a revoked token was accepted")
	}
	for _, bad := range []TokenRequest{{Name: "x"}, {Name: "Bad Name", Roles: []string{"r"}, ExpiresIn: "1h"}, {Name: "x", Roles: []string{"r"}}, {Name: "x", Roles: []string{"r"}, ExpiresIn: "100000h"}, {Name: "x", Roles: []string{"a,b"}, ExpiresIn: "1h"}} {
		if _, _, err := a.CreateToken(ctx, bad, Principal{Name: "alice", Method: MethodPassword}); err == nil {
			t.Errorf("CreateToken(%+v) succeeded", bad)
		}
	}
}

// A token's caller is its creator's: limits per caller count by Account.
func TestAccountIsATokensCreator(t *testing.T) {
	a, _ := newTestAuth(t)
	ctx := context.Background()
	token := func(name string, by Principal) Principal {
		t.Helper()
		secret, _, err := a.CreateToken(ctx, TokenRequest{Name: name, Roles: []string{"role:readonly"}, ExpiresIn: "1h"}, by)
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Authenticate(secret)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice, bob := Principal{Name: "alice", Method: MethodPassword}, Principal{Name: "bob@example.com", Method: MethodSSO}
	for _, tc := range []struct {
		name string
		p    Principal
		want string
	}{
		{"a local account", alice, "alice"},
		{"a single sign-on user", bob, "bob@example.com"},
		{"a token of a local account", token("ci", alice), "alice"},
		{"another token of the same account", token("deploy", alice), "alice"},
		{"a token of a single sign-on user", token("bots", bob), "bob@example.com"},
		{"the ledger token", Principal{Name: ledgerTokenSubject, Method: MethodLedgerToken}, ledgerTokenSubject},
	} {
		if got := tc.p.Account(); got != tc.want {
			t.Errorf("%s (%s): Account() = %q; want %q", tc.name, tc.p.Actor(), got, tc.want)
		}
	}
}

func TestLedgerTokenReadsOnly(t *testing.T) {
	a, _ := newTestAuth(t)
	p, err := a.Authenticate("0123456789abcdef0123")
	if err != nil || p.Method != MethodLedgerToken {
		t.Fatalf("ledger token: %+v, %v", p, err)
	}
	if _, err := a.Authenticate("0123456789abcdef012"); err == nil {
		t.Error("a prefix of the ledger token was accepted")
	}
}

func TestDummyHashCostsLikeARealOne(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil || cost != DefaultPasswordCost {
		t.Fatalf("dummyHash: cost %d, %v; want a valid hash of cost %d", cost, err, DefaultPasswordCost)
	}
}
