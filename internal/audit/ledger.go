package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Ledger appends records to a Store as a hash chain and signs its head after
// every append. It is safe for concurrent use: appends are serialized.
type Ledger struct {
	store Store
	key   ed25519.PrivateKey
	now   func() time.Time

	mu sync.Mutex // serializes appends and cuts
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithClock sets the clock that stamps records and checkpoints.
func WithClock(now func() time.Time) Option { return func(l *Ledger) { l.now = now } }

// New returns a ledger over store that signs with key.
func New(store Store, key ed25519.PrivateKey, opts ...Option) *Ledger {
	l := &Ledger{store: store, key: key, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Store returns the ledger's store, for reading.
func (l *Ledger) Store() Store { return l.store }

// PublicKey is the key checkpoints are signed with.
func (l *Ledger) PublicKey() ed25519.PublicKey { return l.key.Public().(ed25519.PublicKey) }

// maxAppendAttempts bounds retries when another writer (another replica sharing a
// store) moves the head between reading it and appending.
const maxAppendAttempts = 5

// Append chains the records after the current head, stores them with a new
// signed head checkpoint, and returns them with Seq, PrevHash and Hash set. A
// record's Time is set when zero. Either every record is stored or none is.
func (l *Ledger) Append(ctx context.Context, records ...Record) ([]Record, error) {
	if len(records) == 0 {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for attempt := 1; ; attempt++ {
		out, err := l.append(ctx, records)
		if !errors.Is(err, ErrHeadMoved) || attempt == maxAppendAttempts {
			return out, err
		}
	}
}

func (l *Ledger) append(ctx context.Context, records []Record) ([]Record, error) {
	seq, prev, err := l.store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger head: %w", err)
	}
	now := l.now()
	stored := make([]Stored, len(records))
	out := make([]Record, len(records))
	for i, r := range records {
		seq++
		r.Seq, r.PrevHash = seq, prev
		if r.Time.IsZero() {
			r.Time = now
		}
		body, err := r.Canonical()
		if err != nil {
			return nil, fmt.Errorf("encoding ledger record: %w", err)
		}
		r.Hash = hashOf(body)
		prev = r.Hash
		stored[i], out[i] = Stored{Record: r, Body: body}, r
	}
	head := sign(l.key, Checkpoint{Kind: CheckpointHead, Seq: seq, Hash: prev, Time: now})
	if err := l.store.Append(ctx, stored, head); err != nil {
		return nil, fmt.Errorf("writing ledger records: %w", err)
	}
	return out, nil
}

// Retention says which records to keep; zero fields keep everything.
type Retention struct {
	// MaxAge drops records older than this.
	MaxAge time.Duration
	// MaxRecords keeps at most this many of the newest records.
	MaxRecords uint64
}

// Retain deletes the records retention no longer keeps and signs the cut, so
// that Verify still accepts the shortened chain and detects any other deletion.
// The newest record is always kept. It returns how many records were deleted.
func (l *Ledger) Retain(ctx context.Context, r Retention) (int64, error) {
	if r.MaxAge <= 0 && r.MaxRecords == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	head, _, err := l.store.Head(ctx)
	if err != nil || head == 0 {
		return 0, err
	}
	firstKept := uint64(1)
	if _, cut, err := l.store.Checkpoints(ctx); err != nil {
		return 0, err
	} else if cut != nil {
		firstKept = cut.Seq
	}
	alreadyKept := firstKept
	if r.MaxRecords > 0 && head-firstKept+1 > r.MaxRecords {
		firstKept = head - r.MaxRecords + 1
	}
	if r.MaxAge > 0 {
		// The first record young enough to keep; the head is always kept.
		recs, err := l.store.Query(ctx, Filter{Since: l.now().Add(-r.MaxAge), Limit: 1, OldestFirst: true})
		if err != nil {
			return 0, err
		}
		keepFrom := head
		if len(recs) == 1 {
			keepFrom = recs[0].Seq
		}
		firstKept = max(firstKept, keepFrom)
	}
	if firstKept <= alreadyKept {
		return 0, nil
	}
	var prevHash string
	err = l.store.Scan(ctx, firstKept-1, func(seq uint64, body []byte) error {
		rec, err := Decode(body)
		if err != nil {
			return fmt.Errorf("record #%d: %w", seq, err)
		}
		prevHash = rec.PrevHash
		return errStopScan
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return 0, err
	}
	cut := sign(l.key, Checkpoint{Kind: CheckpointCut, Seq: firstKept, Hash: prevHash, Time: l.now()})
	return l.store.Cut(ctx, firstKept, cut)
}

var errStopScan = errors.New("stop")
