// Package sqlite is the ledger's embedded store: one SQLite file (pure Go, no
// cgo) in the controller's data directory. Records are kept as the canonical
// bytes the chain hashes, with a few indexed columns beside them for queries.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lockstep-dev/lockstep/internal/audit"
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

// Store is a ledger store in one SQLite file.
type Store struct {
	db *sql.DB
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
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger database %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("not a SQLite database, or unreadable: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("written by a newer Lockstep (schema %d, this one knows %d)", version, schemaVersion)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
	return err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Head implements audit.Store.
func (s *Store) Head(ctx context.Context) (uint64, string, error) {
	var seq uint64
	var body []byte
	err := s.db.QueryRowContext(ctx, "SELECT seq, body FROM records ORDER BY seq DESC LIMIT 1").Scan(&seq, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	rec, err := audit.Decode(body)
	if err != nil {
		return 0, "", fmt.Errorf("newest record #%d: %w", seq, err)
	}
	return seq, rec.Hash, nil
}

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, records []audit.Stored, head audit.Checkpoint) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(seq) FROM records").Scan(&newest); err != nil {
		return err
	}
	if uint64(newest.Int64)+1 != records[0].Seq {
		return audit.ErrHeadMoved
	}
	for _, r := range records {
		ix := audit.IndexOf(r.Record)
		if _, err := tx.ExecContext(ctx, "INSERT INTO records (seq, time, event, application, author, body) VALUES (?, ?, ?, ?, ?, ?)",
			r.Seq, ix.Time.UnixNano(), string(ix.Event), ix.Application, ix.Author, r.Body); err != nil {
			return err
		}
		for _, ref := range ix.Objects {
			if _, err := tx.ExecContext(ctx, "INSERT INTO record_objects (seq, grp, kind, namespace, name) VALUES (?, ?, ?, ?, ?)",
				r.Seq, ref.Group, ref.Kind, ref.Namespace, ref.Name); err != nil {
				return err
			}
		}
	}
	if err := putCheckpoint(ctx, tx, head); err != nil {
		return err
	}
	return tx.Commit()
}

func putCheckpoint(ctx context.Context, tx *sql.Tx, c audit.Checkpoint) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (kind, seq, hash, time, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time,
		public_key = excluded.public_key, signature = excluded.signature`,
		string(c.Kind), c.Seq, c.Hash, c.Time.UnixNano(), c.PublicKey, c.Signature)
	return err
}

// Scan implements audit.Store. It reads in pages so a long ledger is never held
// in memory at once; each page's objects come in one more query.
func (s *Store) Scan(ctx context.Context, after uint64, fn func(seq uint64, body []byte, index audit.Index) error) error {
	const page = 1000
	for {
		type row struct {
			seq  uint64
			body []byte
			ix   audit.Index
		}
		rows, err := s.db.QueryContext(ctx, "SELECT seq, time, event, application, author, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", after, page)
		if err != nil {
			return err
		}
		var batch []row
		for rows.Next() {
			var r row
			var nanos int64
			var event string
			if err := rows.Scan(&r.seq, &nanos, &event, &r.ix.Application, &r.ix.Author, &r.body); err != nil {
				_ = rows.Close()
				return err
			}
			r.ix.Time, r.ix.Event = time.Unix(0, nanos).UTC(), audit.Event(event)
			batch = append(batch, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		objects, err := s.objectsBetween(ctx, after, batch[len(batch)-1].seq)
		if err != nil {
			return err
		}
		for _, r := range batch {
			r.ix.Objects = objects[r.seq]
			if err := fn(r.seq, r.body, r.ix); err != nil {
				return err
			}
			after = r.seq
		}
		if len(batch) < page {
			return nil
		}
	}
}

// objectsBetween returns the object index of the records after from up to to.
func (s *Store) objectsBetween(ctx context.Context, from, to uint64) (map[uint64][]audit.ObjectRef, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, grp, kind, namespace, name FROM record_objects WHERE seq > ? AND seq <= ? ORDER BY seq, rowid", from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint64][]audit.ObjectRef{}
	for rows.Next() {
		var seq uint64
		var o audit.ObjectRef
		if err := rows.Scan(&seq, &o.Group, &o.Kind, &o.Namespace, &o.Name); err != nil {
			return nil, err
		}
		out[seq] = append(out[seq], o)
	}
	return out, rows.Err()
}

// Query implements audit.Store.
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var where []string
	var args []any
	from := "records r"
	if f.Application != "" {
		where, args = append(where, "r.application = ?"), append(args, f.Application)
	}
	if len(f.Events) > 0 {
		where = append(where, "r.event IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Events)), ",")+")")
		for _, e := range f.Events {
			args = append(args, string(e))
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "r.time >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "r.time < ?"), append(args, f.Until.UnixNano())
	}
	if strings.ContainsRune(f.Author, 0) {
		// SQLite ends the pattern at a NUL, which would match everything.
		return nil, errors.New("author: NUL character")
	}
	if f.Author != "" {
		where, args = append(where, `r.author LIKE ? ESCAPE '\'`), append(args, "%"+escapeLike(f.Author)+"%")
	}
	if f.Before > 0 {
		where, args = append(where, "r.seq < ?"), append(args, f.Before)
	}
	if o := f.Object; o != nil {
		where = append(where, "r.seq IN (SELECT seq FROM record_objects WHERE kind = ? AND namespace = ? AND name = ? AND grp = ?)")
		args = append(args, o.Kind, o.Namespace, o.Name, o.Group)
	}
	q := "SELECT r.seq, r.body FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.OldestFirst {
		q += " ORDER BY r.seq ASC"
	} else {
		q += " ORDER BY r.seq DESC"
	}
	q += " LIMIT ?"
	args = append(args, f.EffectiveLimit())
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var seq uint64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, err
		}
		rec, err := audit.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("record #%d: %w", seq, err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Checkpoints implements audit.Store.
func (s *Store) Checkpoints(ctx context.Context) (head, cut *audit.Checkpoint, err error) {
	rows, err := s.db.QueryContext(ctx, "SELECT kind, seq, hash, time, public_key, signature FROM checkpoints")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c audit.Checkpoint
		var kind string
		var nanos int64
		if err := rows.Scan(&kind, &c.Seq, &c.Hash, &nanos, &c.PublicKey, &c.Signature); err != nil {
			return nil, nil, err
		}
		c.Kind, c.Time = audit.CheckpointKind(kind), time.Unix(0, nanos).UTC()
		switch c.Kind {
		case audit.CheckpointHead:
			head = &c
		case audit.CheckpointCut:
			cut = &c
		}
	}
	return head, cut, rows.Err()
}

// Cut implements audit.Store.
func (s *Store) Cut(ctx context.Context, firstKept uint64, cut audit.Checkpoint) (n int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, "DELETE FROM record_objects WHERE seq < ?", firstKept); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM records WHERE seq < ?", firstKept)
	if err != nil {
		return 0, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, err
	}
	if err := putCheckpoint(ctx, tx, cut); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
