// Package authtest builds an auth.Authenticator over Secrets held in memory,
// for tests of what sits on top of it (the API server, the CLI). The
// Authenticator itself is the real one.
package authtest

import (
	"context"
	"crypto/rand"
	"maps"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// Secrets is an auth.Writer over Secrets in memory.
type Secrets struct {
	mu   sync.Mutex
	data map[string]map[string][]byte
}

// Update implements auth.Writer.
func (s *Secrets) Update(_ context.Context, name string, mutate func(map[string][]byte) error) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := maps.Clone(s.data[name])
	if d == nil {
		d = map[string][]byte{}
	}
	if err := mutate(d); err != nil {
		return nil, err
	}
	s.data[name] = d
	return maps.Clone(d), nil
}

// New returns an Authenticator with a session key and the given accounts
// (name → password), hashing at bcrypt's lowest cost so tests stay fast.
func New(t testing.TB, opts auth.Options, accounts map[string]string) *auth.Authenticator {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	w := &Secrets{data: map[string]map[string][]byte{auth.SecretSessions: {"key": key}}}
	if opts.PasswordCost == 0 {
		opts.PasswordCost = bcrypt.MinCost
	}
	a := auth.New(w, opts)
	if errs := a.Load(auth.SecretSessions, w.data[auth.SecretSessions]); len(errs) > 0 {
		t.Fatal(errs)
	}
	for name, password := range accounts {
		if err := a.CreateAccount(context.Background(), name, password); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// Login logs name in and returns the session token.
func Login(t testing.TB, a *auth.Authenticator, name, password string) string {
	t.Helper()
	s, err := a.Login(context.Background(), name, password, "127.0.0.1")
	if err != nil {
		t.Fatalf("logging in %s: %v", name, err)
	}
	return s.Token
}
