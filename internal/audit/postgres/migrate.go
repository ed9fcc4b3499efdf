package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The schema's versions: migrations/NNNN_what.sql, applied in order, each
// once, in the transaction that records it in schema_migrations. A released
// migration is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations, in order. Their numbers run from 1
// without a gap (TestMigrationsAreNumberedInOrder).
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with its number, as 0002_what.sql", e.Name())
		}
		text, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: e.Name(), sql: string(text)})
	}
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return out, nil
}

// migrationLock is the advisory lock replicas starting together take turns
// on: "lockstep" in ASCII.
const migrationLock = 0x6c6f636b73746570

// errNoLedger says a database holds no ledger where one must be.
var errNoLedger = errors.New("holds no Lockstep ledger (no table schema_migrations)")

// migrate brings the schema to the newest version this binary knows, in one
// transaction under an advisory lock, so that replicas starting at once
// neither race nor see half a schema. A schema newer than the binary's is
// refused: this binary would not know what its records mean. With mustExist,
// a database without a ledger is refused instead of given one.
func migrate(ctx context.Context, db *sql.DB, mustExist bool) (err error) {
	all, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return err
	}
	switch {
	case !exists && mustExist:
		return errNoLedger
	case !exists:
		if _, err := tx.ExecContext(ctx, `CREATE TABLE schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return err
	}
	if latest := len(all); current > latest {
		return fmt.Errorf("its schema is version %d, newer than this Lockstep knows (%d): run the Lockstep that wrote it, or a newer one", current, latest)
	}
	// A reader (lockstep audit --db) migrates nothing: a newer CLI must not
	// move the schema out from under the controllers that write it.
	if mustExist && current > 0 && current < len(all) {
		return fmt.Errorf("its schema is version %d, older than this Lockstep's (%d): read it with the Lockstep the controllers run, or upgrade them first (they migrate it)", current, len(all))
	}
	for _, m := range all[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return err
		}
	}
	return tx.Commit()
}
