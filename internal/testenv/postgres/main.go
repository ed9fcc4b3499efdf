package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// shared is this test binary's server, started by Main.
var shared *Server

// Main starts the test binary's server, runs its tests and stops the server:
//
//	func TestMain(m *testing.M) { postgres.Main(m) }
//
// When tests fail, the server's folder (and its log) is kept and named.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	shared, err = Start(context.Background(), Options{}) // the root of this test binary's work
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv/postgres: starting PostgreSQL: %v\n", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		shared.KeepDir()
		fmt.Fprintf(os.Stderr, "testenv/postgres: tests failed; the server's folder is kept in %s; its log ends:\n%s\n", shared.Dir, shared.LogTail(3000))
	}
	shared.Stop()
	return code
}

// Shared returns this test binary's server.
func Shared(t testing.TB) *Server {
	t.Helper()
	if shared == nil {
		t.Fatal("testenv/postgres: no server: call postgres.Main(m) from TestMain")
	}
	return shared
}

// Database creates an empty database for t, dropped when t ends, and returns
// the superuser's connection string for it.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	name, err := s.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.DropDatabase(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return s.DSN(name)
}
