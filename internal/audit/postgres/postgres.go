// Package postgres is the ledger's store for an install whose replicas run on
// different nodes: one PostgreSQL database they all write, so the ledger
// outlives the loss of any node. It keeps the same tables as the SQLite store,
// through the same statements (internal/audit/sqlstore); its schema is
// versioned by numbered migrations embedded in the binary.
//
// Writers on different connections take turns on the chain's head: Append
// locks the records table against other writers (readers go on) before it
// reads the head, and the sequence number is the primary key besides, so of
// two replicas appending after the same head exactly one succeeds and the
// other is told audit.ErrHeadMoved, having stored nothing.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlstore"
)

// Store is a ledger store in a PostgreSQL database.
type Store struct {
	*sqlstore.Store
	name    string
	warning string
}

var _ audit.Store = (*Store)(nil)

// Options control Open.
type Options struct {
	// MustExist refuses a database that holds no ledger instead of creating
	// one in it: for reading a ledger, where a mistyped database name must not
	// yield an empty, valid-looking ledger.
	MustExist bool
}

const (
	// connectTimeout bounds a connection attempt when the DSN sets none
	// (connect_timeout): a database that does not answer fails the start
	// instead of hanging it.
	connectTimeout = 15 * time.Second
	// maxConns bounds the connections one controller opens: one writer
	// (appends are batched), the API's readers and verify.
	maxConns = 8
	// lockAppend makes appends and cuts on other connections queue for the
	// chain's head; plain reads (queries, scans, verify) are not blocked.
	lockAppend = "LOCK TABLE records IN SHARE ROW EXCLUSIVE MODE"
)

// sessionLimits are the server settings every connection starts with, unless
// the DSN names them.
var sessionLimits = map[string]string{
	"statement_timeout":                   "60s",
	"lock_timeout":                        "30s",
	"idle_in_transaction_session_timeout": "60s",
}

// Open connects to the database dsn names (postgres://USER@HOST:PORT/DB?sslmode=verify-full,
// or key=value settings; the PG* environment variables and ~/.pgpass fill in
// what it leaves out, as for psql) and brings its schema up to date. The
// DSN's password appears in no error, here or later.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	creds := newCredentials(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: the parse error keeps the DSN, password and all.
		return nil, fmt.Errorf("ledger database %s: not a PostgreSQL connection string (postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full, or key=value settings): %s",
			creds.shown, creds.hide(err.Error()))
	}
	creds.add(cfg.Password)
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// A database that stops answering, or a replica frozen mid-append with
	// the append lock held (a paused VM keeps its connection open), must not
	// stall every other writer for good: statements, lock waits and idle
	// transactions end. The DSN may set others.
	for k, v := range sessionLimits {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	if err := migrate(ctx, db, opts.MustExist); err != nil {
		_ = db.Close()
		return nil, creds.wrap(fmt.Errorf("ledger database %s: %w", creds.shown, err))
	}
	d := sqlstore.Dialect{LockAppend: lockAppend, Err: func(err error) error {
		// The lock makes this rare (a writer without it: an older binary, or
		// a statement by hand); the primary key still keeps one chain.
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "records_pkey" {
			return audit.ErrHeadMoved
		}
		return creds.wrap(err)
	}}
	return &Store{Store: sqlstore.New(db, d), name: creds.shown, warning: transportWarning(cfg)}, nil
}

// Warning says how the connection could be read or impersonated on its way
// (no TLS, or the server not verified), or is "".
func (s *Store) Warning() string { return s.warning }

// Name is the database as messages name it: its DSN without credentials.
func (s *Store) Name() string { return s.name }
