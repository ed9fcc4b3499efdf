package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

func concurrentAppendsMakeOneChain(t *testing.T, f *fixture) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := f.ledger.Append(t.Context(), record(w*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if rep := f.verify(t); !rep.OK() || rep.Records != 200 {
		t.Fatalf("report = %+v", rep)
	}
}

// Appends that arrive together are written together (group commit); each
// caller still gets back its own records, numbered.
func groupCommitReturnsEachCallerItsOwnRecords(t *testing.T, f *fixture) {
	const callers = 40
	var wg sync.WaitGroup
	seqs := make(chan uint64, 2*callers)
	for i := range callers {
		wg.Go(func() {
			a, b := record(1), record(2)
			a.Actor, b.Actor = fmt.Sprintf("caller-%d", i), fmt.Sprintf("caller-%d", i)
			out, err := f.ledger.Append(t.Context(), a, b)
			if err != nil || len(out) != 2 || out[0].Actor != a.Actor || out[1].Actor != a.Actor || out[1].Seq != out[0].Seq+1 {
				t.Errorf("caller %d got %+v, %v", i, out, err)
				return
			}
			seqs <- out[0].Seq
			seqs <- out[1].Seq
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given twice", s)
		}
		seen[s] = true
	}
	if rep := f.verify(t); !rep.OK() || rep.Records != 2*callers {
		t.Fatalf("%+v", rep)
	}
}

// Two ledgers on one database, as two replicas (or two processes) would have:
// the head moves under one of them, and its Append chains again after the new
// head instead of forking the chain.
func twoWritersKeepOneChain(t *testing.T, f *fixture) {
	_, other := f.reopen(t, newKey(t))
	var wg sync.WaitGroup
	for _, l := range []*audit.Ledger{f.ledger, other} {
		wg.Go(func() {
			for i := range 30 {
				if _, err := l.Append(t.Context(), record(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Each ledger signs with its own key: check against the key the head names.
	rep, err := audit.Verify(t.Context(), f.store, nil)
	if err != nil || rep.Records != 60 || rep.Problem != "" {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}

// Two stores on one database append after the same head at the same moment,
// round after round: exactly one of them stores its record, the other is told
// ErrHeadMoved and stores nothing, so the chain has no fork and no gap.
func exactlyOneWriterWinsEachRound(t *testing.T, f *fixture) {
	ctx := t.Context()
	stores := []audit.Store{f.store, f.db.Open(t)}
	const rounds = 20
	for round := range rounds {
		seq, prev, err := f.store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, len(stores))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w, s := range stores {
			rec := record(round)
			rec.Seq, rec.PrevHash, rec.Time, rec.Actor = seq+1, prev, time.Now(), fmt.Sprintf("writer-%d", w)
			stored, head := storedAfter(t, rec)
			wg.Go(func() {
				<-start
				errs[w] = s.Append(ctx, []audit.Stored{stored}, head)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for w, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, audit.ErrHeadMoved):
				t.Fatalf("round %d, writer %d: %v; want nil or ErrHeadMoved", round, w, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d writers stored their record, want exactly one", round, won)
		}
		if got, _, err := f.store.Head(ctx); err != nil || got != seq+1 {
			t.Fatalf("round %d: head #%d, %v; want #%d", round, got, err, seq+1)
		}
	}
	// The losers stored nothing: one row per round in each table.
	for _, table := range []string{"records", "record_objects"} {
		var n int
		if err := f.db.Raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != rounds {
			t.Errorf("%s holds %d rows, %v; want %d", table, n, err, rounds)
		}
	}
	// The rounds' checkpoints were not signed: one append through the ledger
	// signs a head over the whole chain, which then verifies.
	if _, err := f.ledger.Append(ctx, record(rounds)); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK() || rep.Records != rounds+1 {
		t.Fatalf("report = %+v", rep)
	}
}

// storedAfter is rec as a store keeps it, and an (unsigned) head checkpoint
// naming it: the store checks neither.
func storedAfter(t *testing.T, rec audit.Record) (audit.Stored, audit.Checkpoint) {
	t.Helper()
	body, err := rec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := audit.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hash = decoded.Hash
	return audit.Stored{Record: rec, Body: body}, audit.Checkpoint{Kind: audit.CheckpointHead, Seq: rec.Seq, Hash: rec.Hash, Time: rec.Time}
}

// appendDuringWalk is a store whose first head read is followed at once by
// an append: a record the walk sees after the head it checks against.
type appendDuringWalk struct {
	audit.Store
	t      *testing.T
	ledger *audit.Ledger
	done   bool
}

func (s *appendDuringWalk) Checkpoints(ctx context.Context) (*audit.Checkpoint, *audit.Checkpoint, error) {
	head, cut, err := s.Store.Checkpoints(ctx)
	if !s.done {
		s.done = true
		if _, err := s.ledger.Append(ctx, record(99)); err != nil {
			s.t.Fatal(err)
		}
	}
	return head, cut, err
}

// A record appended, with its signed head, while the chain is walked is not
// taken for one added without a signature (make test once failed on it).
// TamperingIsDetected keeps the unsigned record refused.
func verifyWhileRecordsAreAppended(t *testing.T, f *fixture) {
	f.appendN(t, 5)
	rep, err := audit.Verify(t.Context(), &appendDuringWalk{Store: f.store, t: t, ledger: f.ledger}, f.ledger.PublicKey())
	if err != nil || !rep.OK() || rep.Last != 6 {
		t.Fatalf("verify during an append: %+v, %v", rep, err)
	}
}
