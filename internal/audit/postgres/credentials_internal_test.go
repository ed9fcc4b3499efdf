package postgres

import (
	"strings"
	"testing"
)

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].version != 1 {
		t.Fatalf("migrations: %+v", all)
	}
}

// Whatever form the DSN takes, the password is hidden in what is shown and
// in any message that quotes the DSN or the password.
func TestCredentialsHideThePassword(t *testing.T) {
	for _, tc := range []struct {
		dsn, shown string
		secrets    []string
	}{
		{"postgres://ledger:p%40ss@db.internal:5432/lockstep?sslmode=verify-full", "postgres://REDACTED@db.internal:5432/lockstep?sslmode=verify-full", []string{"p%40ss", "p@ss"}},
		{"postgresql://ledger@db.internal/lockstep?password=hunter22&sslmode=require", "postgresql://REDACTED@db.internal/lockstep?password=REDACTED", []string{"hunter22"}},
		{"postgres://db.internal/lockstep?sslpassword=keypass1", "postgres://db.internal/lockstep?sslpassword=REDACTED", []string{"keypass1"}},
		{"host=db.internal user=ledger password=hunter22 dbname=lockstep", "host=db.internal user=ledger password=REDACTED dbname=lockstep", []string{"hunter22"}},
		{`host=db.internal password='it\'s a \\ secret' dbname=lockstep`, "host=db.internal password=REDACTED dbname=lockstep", []string{`it\'s a \\ secret`, `it's a \ secret`}},
		{"postgres://ledger:a:b@c@db.internal:bad/lockstep", "postgres://REDACTED@db.internal:bad/lockstep", []string{"a:b@c"}},
		{"postgres://ledger@db.internal/lockstep", "postgres://REDACTED@db.internal/lockstep", nil},
	} {
		c := newCredentials(tc.dsn)
		if c.shown != tc.shown {
			t.Errorf("%s: shown as %q, want %q", tc.dsn, c.shown, tc.shown)
		}
		for _, s := range tc.secrets {
			if got := c.hide("connecting to " + tc.dsn + " with " + s + " failed"); strings.Contains(got, s) {
				t.Errorf("%s: %q shows %q", tc.dsn, got, s)
			}
		}
	}
}
