// Package sqlstore is the ledger's tables on a SQL database, shared by the
// SQLite store (internal/audit/sqlite) and the PostgreSQL one
// (internal/audit/postgres): the same tables, the same statements, so a query
// finds the same records on both. Statements number their parameters ($1,
// $2, ...), which both drivers read; the few differences are a Dialect.
//
// The tables (each store's schema creates them):
//
//	records        seq (primary key), time (Unix nanoseconds), event, application, author, body (canonical bytes)
//	record_objects seq, grp, kind, namespace, name, and rowid: the order rows were written in
//	checkpoints    kind (head | cut, primary key), seq, hash, time (Unix nanoseconds), public_key, signature
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// LockAppend, when set, is run first in the transactions of Append and
	// Cut: it makes writers on other connections (another replica) queue
	// for the chain's head instead of reading it together. SQLite needs none:
	// its transactions take the write lock when they begin.
	LockAppend string
	// Err, when set, translates every error a store method returns: a
	// duplicate sequence number into audit.ErrHeadMoved, say, or credentials
	// out of a message.
	Err func(error) error
}

// Store keeps the ledger in db. It implements audit.Store.
type Store struct {
	db *sql.DB
	d  Dialect
}

var _ audit.Store = (*Store)(nil)

// New returns a store over db, whose schema holds the ledger's tables.
func New(db *sql.DB, d Dialect) *Store { return &Store{db: db, d: d} }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) fail(err error) error {
	if err == nil || s.d.Err == nil {
		return err
	}
	return s.d.Err(err)
}

// Head implements audit.Store.
func (s *Store) Head(ctx context.Context) (uint64, string, error) {
	var seq uint64
	var body []byte
	err := s.db.QueryRowContext(ctx, "SELECT seq, body FROM records ORDER BY seq DESC LIMIT 1").Scan(&seq, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", s.fail(err)
	}
	rec, err := audit.Decode(body)
	if err != nil {
		return 0, "", fmt.Errorf("newest record #%d: %w", seq, err)
	}
	return seq, rec.Hash, nil
}

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, records []audit.Stored, head audit.Checkpoint) error {
	return s.fail(s.inTx(ctx, func(tx *sql.Tx) error {
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MAX(seq) FROM records").Scan(&newest); err != nil {
			return err
		}
		if uint64(newest.Int64)+1 != records[0].Seq {
			return audit.ErrHeadMoved
		}
		if err := insert(ctx, tx, records); err != nil {
			return err
		}
		return putCheckpoint(ctx, tx, head)
	}))
}

// insert writes the records and their object index in a few statements,
// many rows each: on a server every statement is a round trip. The index is
// taken from the canonical body, so it is exactly what Verify compares it
// with: a commit author that is not UTF-8 is stored as the body spells it
// (PostgreSQL refuses text that is not).
func insert(ctx context.Context, tx *sql.Tx, records []audit.Stored) error {
	var recs, objs [][]any
	for _, r := range records {
		var rec audit.Record
		if err := json.Unmarshal(r.Body, &rec); err != nil {
			return fmt.Errorf("record #%d: %w", r.Seq, err)
		}
		ix := audit.IndexOf(rec)
		recs = append(recs, []any{r.Seq, ix.Time.UnixNano(), string(ix.Event), ix.Application, ix.Author, r.Body})
		for _, ref := range ix.Objects {
			objs = append(objs, []any{r.Seq, ref.Group, ref.Kind, ref.Namespace, ref.Name})
		}
	}
	if err := insertRows(ctx, tx, "records (seq, time, event, application, author, body)", recs); err != nil {
		return err
	}
	return insertRows(ctx, tx, "record_objects (seq, grp, kind, namespace, name)", objs)
}

// rowsPerInsert bounds one statement's rows, and so its parameters (SQLite
// takes 32,766, PostgreSQL 65,535) and its size.
const rowsPerInsert = 100

// insertRows inserts rows, in order, into table (with its columns).
func insertRows(ctx context.Context, tx *sql.Tx, into string, rows [][]any) error {
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		var q strings.Builder
		var args []any
		q.WriteString("INSERT INTO " + into + " VALUES ")
		for i, row := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					q.WriteString(", ")
				}
				args = append(args, v)
				q.WriteString("$" + strconv.Itoa(len(args)))
			}
			q.WriteByte(')')
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func putCheckpoint(ctx context.Context, tx *sql.Tx, c audit.Checkpoint) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (kind, seq, hash, time, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (kind) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time,
		public_key = excluded.public_key, signature = excluded.signature`,
		string(c.Kind), c.Seq, c.Hash, c.Time.UnixNano(), c.PublicKey, c.Signature)
	return err
}

// inTx runs fn in a transaction that holds the dialect's append lock, and
// commits when fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if s.d.LockAppend != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockAppend); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// scanPage is how many records Scan reads at once.
const scanPage = 1000

// Scan implements audit.Store. It reads in pages so a long ledger is never held
// in memory at once; each page's objects come in one more query.
func (s *Store) Scan(ctx context.Context, after uint64, fn func(seq uint64, body []byte, index audit.Index) error) error {
	for {
		type row struct {
			seq  uint64
			body []byte
			ix   audit.Index
		}
		rows, err := s.db.QueryContext(ctx, "SELECT seq, time, event, application, author, body FROM records WHERE seq > $1 ORDER BY seq LIMIT $2", after, scanPage)
		if err != nil {
			return s.fail(err)
		}
		var batch []row
		for rows.Next() {
			var r row
			var nanos int64
			var event string
			if err := rows.Scan(&r.seq, &nanos, &event, &r.ix.Application, &r.ix.Author, &r.body); err != nil {
				_ = rows.Close()
				return s.fail(err)
			}
			r.ix.Time, r.ix.Event = time.Unix(0, nanos).UTC(), audit.Event(event)
			batch = append(batch, r)
		}
		if err := rows.Close(); err != nil {
			return s.fail(err)
		}
		if err := rows.Err(); err != nil {
			return s.fail(err)
		}
		if len(batch) == 0 {
			return nil
		}
		objects, err := s.objectsBetween(ctx, after, batch[len(batch)-1].seq)
		if err != nil {
			return s.fail(err)
		}
		for _, r := range batch {
			r.ix.Objects = objects[r.seq]
			if err := fn(r.seq, r.body, r.ix); err != nil {
				return err
			}
			after = r.seq
		}
		if len(batch) < scanPage {
			return nil
		}
	}
}

// objectsBetween returns the object index of the records after from up to to.
func (s *Store) objectsBetween(ctx context.Context, from, to uint64) (map[uint64][]audit.ObjectRef, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, grp, kind, namespace, name FROM record_objects WHERE seq > $1 AND seq <= $2 ORDER BY seq, rowid", from, to)
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
	q, args, err := query(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var seq uint64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, s.fail(err)
		}
		rec, err := audit.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("record #%d: %w", seq, err)
		}
		out = append(out, rec)
	}
	return out, s.fail(rows.Err())
}

// query is the statement that selects f's records, and its arguments.
func query(f audit.Filter) (string, []any, error) {
	var where []string
	var args []any
	// arg adds a parameter and returns its place in the statement.
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Application != "" {
		where = append(where, "r.application = "+arg(f.Application))
	}
	if len(f.Events) > 0 {
		in := make([]string, len(f.Events))
		for i, e := range f.Events {
			in[i] = arg(string(e))
		}
		where = append(where, "r.event IN ("+strings.Join(in, ", ")+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "r.time >= "+arg(f.Since.UnixNano()))
	}
	if !f.Until.IsZero() {
		where = append(where, "r.time < "+arg(f.Until.UnixNano()))
	}
	if strings.ContainsRune(f.Author, 0) {
		// SQLite ends the pattern at a NUL, which would match everything;
		// PostgreSQL refuses it.
		return "", nil, errors.New("author: NUL character")
	}
	if f.Author != "" {
		// Case-insensitive for ASCII letters, as SQLite's LIKE is; PostgreSQL's
		// LIKE is not, and SQLite has no ILIKE.
		where = append(where, `lower(r.author) LIKE lower(`+arg("%"+escapeLike(f.Author)+"%")+`) ESCAPE '\'`)
	}
	if f.Before > 0 {
		where = append(where, "r.seq < "+arg(f.Before))
	}
	if o := f.Object; o != nil {
		where = append(where, "r.seq IN (SELECT seq FROM record_objects WHERE kind = "+arg(o.Kind)+" AND namespace = "+arg(o.Namespace)+
			" AND name = "+arg(o.Name)+" AND grp = "+arg(o.Group)+")")
	}
	q := "SELECT r.seq, r.body FROM records r"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.OldestFirst {
		q += " ORDER BY r.seq ASC"
	} else {
		q += " ORDER BY r.seq DESC"
	}
	q += " LIMIT " + arg(f.EffectiveLimit())
	return q, args, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Checkpoints implements audit.Store.
func (s *Store) Checkpoints(ctx context.Context) (head, cut *audit.Checkpoint, err error) {
	rows, err := s.db.QueryContext(ctx, "SELECT kind, seq, hash, time, public_key, signature FROM checkpoints")
	if err != nil {
		return nil, nil, s.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c audit.Checkpoint
		var kind string
		var nanos int64
		if err := rows.Scan(&kind, &c.Seq, &c.Hash, &nanos, &c.PublicKey, &c.Signature); err != nil {
			return nil, nil, s.fail(err)
		}
		c.Kind, c.Time = audit.CheckpointKind(kind), time.Unix(0, nanos).UTC()
		switch c.Kind {
		case audit.CheckpointHead:
			head = &c
		case audit.CheckpointCut:
			cut = &c
		}
	}
	return head, cut, s.fail(rows.Err())
}

// Cut implements audit.Store.
func (s *Store) Cut(ctx context.Context, firstKept uint64, cut audit.Checkpoint) (n int64, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM record_objects WHERE seq < $1", firstKept); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM records WHERE seq < $1", firstKept)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		return putCheckpoint(ctx, tx, cut)
	})
	if err != nil {
		return 0, s.fail(err)
	}
	return n, nil
}
