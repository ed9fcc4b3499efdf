// Package sqlite is the ledger's embedded store: one SQLite file (pure Go, no
// cgo) in the controller's data directory. Records are kept as the canonical
// bytes the chain hashes, with a few indexed columns beside them for queries.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlstore"
)

// schemaVersion is stored in PRAGMA user_version; Open refuses newer files.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS records (
	seq         INTEGER PRIMARY KEY,
	time        INTEGER NOT NULL,  -- Unix nanoseconds
	event       TEXT NOT NULL,
	application TEXT NOT NULL,
	author      TEXT NOT NULL DEFAULT '',
	body        BLOB NOT NULL      -- canonical JSON, exactly what the chain hashes
);
CREATE INDEX IF NOT EXISTS records_app ON records (application, seq);
CREATE INDEX IF NOT EXISTS records_time ON records (time);
CREATE TABLE IF NOT EXISTS record_objects (
	seq       INTEGER NOT NULL REFERENCES records (seq) ON DELETE CASCADE,
	grp       TEXT NOT NULL,
	kind      TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS record_objects_object ON record_objects (kind, namespace, name, grp, seq);
CREATE INDEX IF NOT EXISTS record_objects_seq ON record_objects (seq);
CREATE TABLE IF NOT EXISTS checkpoints (
	kind       TEXT PRIMARY KEY,   -- head | cut
	seq        INTEGER NOT NULL,
	hash       TEXT NOT NULL,
	time       INTEGER NOT NULL,
	public_key TEXT NOT NULL,
	signature  TEXT NOT NULL
);`

// Store is a ledger store in one SQLite file. Its statements are
// sqlstore's, shared with the PostgreSQL store.
type Store struct {
	*sqlstore.Store
}

var _ audit.Store = (*Store)(nil)

// Options control Open.
type Options struct {
	// MustExist refuses to create a new file: for reading a ledger someone handed
	// over, where a typo must not yield an empty, valid-looking ledger.
	MustExist bool
}

// Open opens or creates the ledger file at path (its folder is created too).
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.MustExist {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("ledger database: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger database: %w", err)
	}
	// WAL lets readers (the API, the CLI with --db) run beside the writer;
	// synchronous=FULL makes every committed append survive a power cut;
	// immediate transactions take the write lock up front, so two writers queue
	// instead of failing on upgrade.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger database %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger database %s: %w", path, err)
	}
	// Immediate transactions queue writers: Append needs no lock of its own.
	return &Store{sqlstore.New(db, sqlstore.Dialect{})}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("not a SQLite database, or unreadable: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("written by a newer Lockstep (schema %d, this one knows %d)", version, schemaVersion)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
	return err
}
