package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestTransportWarning(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://lockstep@db.internal/ledger":                                     "unencrypted",
		"postgres://lockstep@db.internal/ledger?sslmode=prefer":                      "unencrypted",
		"postgres://lockstep@db.internal/ledger?sslmode=disable":                     "unencrypted",
		"postgres://lockstep@db.internal/ledger?sslmode=require":                     "not verified",
		"postgres://lockstep@db.internal/ledger?sslmode=verify-full":                 "",
		"postgres://lockstep@127.0.0.1:5432/ledger?sslmode=disable":                  "",
		"postgres://lockstep@localhost/ledger":                                       "",
		"host=/var/run/postgresql dbname=ledger":                                     "",
		"postgres://lockstep@db-a.internal,db-b.internal/ledger?sslmode=verify-full": "",
	} {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		got := transportWarning(cfg)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("%s: warning %q, want one saying %q", dsn, got, want)
		}
	}
}
