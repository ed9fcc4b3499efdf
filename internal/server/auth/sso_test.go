package auth_test

import (
	"errors"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
)

// An SSO user may not go by a name another kind of caller has: RBAC would
// give them that caller's permissions.
func TestLoginSSORefusesNamesTaken(t *testing.T) {
	a := authtest.New(t, auth.Options{LedgerToken: "a-ledger-token-0123456789"}, map[string]string{"admin": "a long enough password"})
	for _, name := range []string{"admin", "token/ci", "ledger-token"} {
		if s, err := a.LoginSSO(name, []string{"ops"}); !errors.Is(err, auth.ErrSSONameTaken) {
			t.Errorf("LoginSSO(%q) = %+v, %v; want ErrSSONameTaken", name, s, err)
		}
	}
	if _, err := a.LoginSSO("", nil); err == nil {
		t.Error("LoginSSO with no username succeeded")
	}

	// A session opened before a local account of the same name was made
	// stops working at once.
	s, err := a.LoginSSO("bob", []string{"ops"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(s.Token)
	if err != nil || p.Name != "bob" || p.Method != auth.MethodSSO || len(p.Groups) != 1 {
		t.Fatalf("Authenticate: %+v, %v", p, err)
	}
	if err := a.CreateAccount(t.Context(), "bob", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Authenticate(s.Token); !errors.Is(err, auth.ErrSSONameTaken) {
		t.Errorf("the SSO session of bob after the local account bob was made: %+v, %v; want ErrSSONameTaken", p, err)
	}
}
