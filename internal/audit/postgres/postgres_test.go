package postgres_test

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/postgres"
	"github.com/lockstep-dev/lockstep/internal/audit/storetest"
	pgenv "github.com/lockstep-dev/lockstep/internal/testenv/postgres"
)

// One PostgreSQL server for the package's tests; a database for each.
func TestMain(m *testing.M) { pgenv.Main(m) }

// newDatabase is an empty database on the tests' server, with a raw
// connection to it for playing the attacker.
func newDatabase(t testing.TB) storetest.Database {
	dsn := pgenv.Database(t)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return storetest.Database{
		Open: func(t testing.TB) audit.Store { return open(t, dsn, postgres.Options{}) },
		Raw:  raw,
		Size: func(t testing.TB) map[string]float64 {
			var bytes int64
			if err := raw.QueryRowContext(t.Context(), `SELECT pg_total_relation_size('records') + pg_total_relation_size('record_objects') +
				pg_total_relation_size('checkpoints')`).Scan(&bytes); err != nil {
				t.Fatal(err)
			}
			return map[string]float64{"db-MiB/10k-records": float64(bytes) / (1 << 20)}
		},
	}
}

func open(t testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	t.Helper()
	store, err := postgres.Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// TestStore runs the contract every ledger store meets.
func TestStore(t *testing.T) { storetest.Run(t, newDatabase) }

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Opening again, as every restart does, changes nothing and loses nothing.
func TestMigrationsAreIdempotent(t *testing.T) {
	db := newDatabase(t)
	key, _ := audit.GenerateKey()
	if _, err := audit.New(db.Open(t), key).Append(t.Context(), audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded}); err != nil {
		t.Fatal(err)
	}
	second := db.Open(t)
	if n := count(t, db.Raw, "SELECT COUNT(*) FROM schema_migrations"); n != 1 {
		t.Errorf("schema_migrations holds %d rows, want one per migration (1)", n)
	}
	if rep, err := audit.Verify(t.Context(), second, nil); err != nil || !rep.OK() || rep.Records != 1 {
		t.Errorf("after opening again: %+v, %v", rep, err)
	}
}

// Replicas starting at once on a new database: one of them migrates, the
// others wait for it and find the schema done.
func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	db := newDatabase(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { db.Open(t) })
	}
	wg.Wait()
	if n := count(t, db.Raw, "SELECT COUNT(*) FROM schema_migrations"); n != 1 {
		t.Errorf("schema_migrations holds %d rows, want 1", n)
	}
}

// A database a newer Lockstep migrated is refused, with the versions named.
func TestANewerSchemaIsRefused(t *testing.T) {
	dsn := pgenv.Database(t)
	_ = open(t, dsn, postgres.Options{})
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (99, '0099_from_the_future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), dsn, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "schema is version 99, newer than this Lockstep knows (1)") {
		t.Fatalf("a newer schema: %v", err)
	}
	if password := pgenv.Shared(t).Password; strings.Contains(err.Error(), password) {
		t.Errorf("the error shows the password: %v", err)
	}
}

// Reading a ledger (lockstep audit --db) never creates one.
func TestMustExistRefusesADatabaseWithoutALedger(t *testing.T) {
	dsn := pgenv.Database(t)
	if _, err := postgres.Open(t.Context(), dsn, postgres.Options{MustExist: true}); err == nil || !strings.Contains(err.Error(), "holds no Lockstep ledger") {
		t.Fatalf("an empty database with MustExist: %v", err)
	}
	_ = open(t, dsn, postgres.Options{})
	_ = open(t, dsn, postgres.Options{MustExist: true})
}

// The DSN's password appears in no error: not when the server refuses it,
// not when the DSN does not parse, not when the database goes away later.
func TestTheDSNPasswordIsInNoError(t *testing.T) {
	s := pgenv.Shared(t)
	const secret = "s3cret-Pa55word"
	for _, tc := range []struct {
		name, dsn, says string
	}{
		{"wrong password", "postgres://postgres:" + secret + "@127.0.0.1:" + itoa(s.Port) + "/postgres?sslmode=disable", "password authentication failed"},
		{"wrong password, key=value", "host=127.0.0.1 port=" + itoa(s.Port) + " user=postgres password='" + secret + "' dbname=postgres sslmode=disable", "password authentication failed"},
		{"password in the query", "postgres://postgres@127.0.0.1:" + itoa(s.Port) + "/postgres?sslmode=disable&password=" + secret, "password authentication failed"},
		{"nothing listens", "postgres://postgres:" + secret + "@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5", "connect"},
		{"malformed URL (port)", "postgres://postgres:" + secret + "@127.0.0.1:port/postgres", "not a PostgreSQL connection string"},
		{"malformed URL (escape)", "postgres://postgres:" + secret + "%zz@127.0.0.1/postgres", "not a PostgreSQL connection string"},
		{"malformed key=value", "host=127.0.0.1 password=" + secret + " port=x", "not a PostgreSQL connection string"},
		{"malformed key=value, quoted", "host=127.0.0.1 password='" + secret + " port=x", "not a PostgreSQL connection string"},
		{"a file name", "/var/lib/lockstep/ledger.db", "not a PostgreSQL connection string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(t.Context(), tc.dsn, postgres.Options{})
			if err == nil {
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Pa55") {
				t.Errorf("the error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			t.Log(err)
		})
	}
}

// A store whose database goes away fails its calls without naming the password.
func TestAStoreWhoseDatabaseWentAway(t *testing.T) {
	s := pgenv.Shared(t)
	name, err := s.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	store := open(t, s.DSN(name), postgres.Options{})
	if err := s.DropDatabase(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	_, err = store.Query(t.Context(), audit.Filter{})
	if err == nil || strings.Contains(err.Error(), s.Password) {
		t.Fatalf("a query on a dropped database: %v", err)
	}
	if errors.Is(err, audit.ErrHeadMoved) {
		t.Errorf("taken for a moved head: %v", err)
	}
	t.Log(err)
}

func itoa(n int) string { return strconv.Itoa(n) }
