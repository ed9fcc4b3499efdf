package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Ledger appends records to a Store as a hash chain and signs its head after
// every append. It is safe for concurrent use: appends that arrive while one is
// being written are written together in the next transaction (group commit), so
// many Applications syncing at once share fsyncs instead of queueing for them.
type Ledger struct {
	store Store
	key   ed25519.PrivateKey
	now   func() time.Time

	mu sync.Mutex // serializes writes to the store: appends and cuts

	queueMu  sync.Mutex
	queue    []*appendRequest
	flushing bool // a caller is writing the queue
}

type appendRequest struct {
	records []Record
	done    chan appendResult
}

type appendResult struct {
	records []Record
	err     error
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
const maxAppendAttempts = 20

// Append chains the records after the current head, stores them with a new
// signed head checkpoint, and returns them with Seq, PrevHash and Hash set. A
// record's Time is set when zero. Either every record is stored or none is.
//
// The first caller to find no write in progress writes the queue, batch after
// batch, until it is empty; the others wait for their batch. A batch that fails
// fails for every caller in it.
func (l *Ledger) Append(ctx context.Context, records ...Record) ([]Record, error) {
	if len(records) == 0 {
		return nil, nil
	}
	req := &appendRequest{records: records, done: make(chan appendResult, 1)}
	l.queueMu.Lock()
	l.queue = append(l.queue, req)
	if l.flushing {
		l.queueMu.Unlock()
		res := <-req.done // not ctx: the batch may already be written
		return res.records, res.err
	}
	l.flushing = true
	l.queueMu.Unlock()
	// Followers' records are written with the leader's context, minus its
	// cancellation: a caller giving up must not fail the others.
	ctx = context.WithoutCancel(ctx)
	for {
		l.queueMu.Lock()
		batch := l.queue
		l.queue = nil
		if len(batch) == 0 {
			l.flushing = false
			l.queueMu.Unlock()
			break
		}
		l.queueMu.Unlock()
		l.writeBatch(ctx, batch)
	}
	res := <-req.done
	return res.records, res.err
}

// writeBatch writes the records of every request in one transaction and tells
// each request its own records.
func (l *Ledger) writeBatch(ctx context.Context, batch []*appendRequest) {
	var all []Record
	for _, r := range batch {
		all = append(all, r.records...)
	}
	l.mu.Lock()
	var out []Record
	var err error
	for attempt := 1; ; attempt++ {
		out, err = l.append(ctx, all)
		if !errors.Is(err, ErrHeadMoved) || attempt == maxAppendAttempts {
			break
		}
		// The other writer is mid-append: let it finish, then chain after it.
		time.Sleep(time.Duration(attempt) * time.Duration(1+rand.IntN(3)) * time.Millisecond)
	}
	l.mu.Unlock()
	for _, r := range batch {
		if err != nil {
			r.done <- appendResult{err: err}
			continue
		}
		r.done <- appendResult{records: out[:len(r.records):len(r.records)]}
		out = out[len(r.records):]
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
		if errors.Is(err, ErrHeadMoved) {
			return nil, fmt.Errorf("writing ledger records: %w", err)
		}
		// A database can commit and lose the answer (the connection cut
		// after COMMIT): the head then is this batch's last record, whose
		// hash chains its whole content, and writing it again would record
		// every sync in it twice.
		if s, h, herr := l.store.Head(ctx); herr == nil && s == seq && h == prev {
			return out, nil
		}
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
	err = l.store.Scan(ctx, firstKept-1, func(seq uint64, body []byte, _ Index) error {
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
