package reconcile

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// A catch-up record of a sync the ledger already holds is dropped, also
// when a failure was recorded after it (the API server went down between
// the records and the status: found by TestAPIServerKilledDuringASyncOf50);
// one of a sync it does not hold is kept.
func TestACatchUpRecordOfARecordedSyncIsDropped(t *testing.T) {
	ctx := context.Background()
	j := journal{ledger: testLedger(t, nil)}
	rec := func(rev string, result audit.Result, msg string) audit.Record {
		return audit.Record{Event: audit.EventSync, Application: "shop/web", Revision: rev, Result: result, Actor: "controller", Message: msg}
	}
	if _, err := j.ledger.Append(ctx, rec("aaa", audit.Succeeded, ""), rec("aaa", audit.Failed, "reading credentials: connection refused")); err != nil {
		t.Fatal(err)
	}
	got, err := j.withoutRecorded(ctx, []audit.Record{rec("aaa", audit.Succeeded, pass.CaughtUpMessage), rec("bbb", audit.Succeeded, pass.CaughtUpMessage)})
	if err != nil || len(got) != 1 || got[0].Revision != "bbb" {
		t.Errorf("kept %+v, %v; want only the catch-up of bbb", got, err)
	}
}

// While one pass writes the waiting records to a ledger that can be read but
// not written (a full disk), another asking whether it may sync waits for
// that write and is refused with it: its probe of the ledger's head, which
// answers, must not let it apply while the records may still be refused.
func TestASyncWaitsForTheBacklogBeingWritten(t *testing.T) {
	ctx := context.Background()
	full := &fullDisk{entered: make(chan struct{}), release: make(chan struct{})}
	j := journal{ledger: testLedger(t, func(s audit.Store) audit.Store { full.Store = s; return full })}
	j.refused([]audit.Record{{Event: audit.EventSync, Application: "shop/web", Revision: "aaa", Result: audit.Succeeded, Actor: "controller"}})

	first := make(chan error, 1)
	go func() { _, err := j.ready(ctx); first <- err }()
	<-full.entered // the first pass is writing the backlog
	second := make(chan error, 1)
	go func() { _, err := j.ready(ctx); second <- err }()
	select {
	case err := <-second:
		t.Fatalf("the second pass was answered while the backlog was being written: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(full.release)
	if err := <-first; err == nil {
		t.Fatal("the first pass's write was refused, yet it may sync")
	}
	if err := <-second; err == nil {
		t.Fatal("the second pass may sync though the ledger refused the records")
	}
	if len(j.backlog) != 1 || !j.failing {
		t.Errorf("backlog %d record(s), failing %v; want the record kept, failing", len(j.backlog), j.failing)
	}
}

// fullDisk is a store that can be read but refuses every append, the first
// after release is closed.
type fullDisk struct {
	audit.Store
	once             sync.Once
	entered, release chan struct{}
}

func (f *fullDisk) Append(context.Context, []audit.Stored, audit.Checkpoint) error {
	f.once.Do(func() { close(f.entered); <-f.release })
	return errors.New("no space left on device")
}

// testLedger is a ledger on a new SQLite file, its store wrapped when wrap
// is given.
func testLedger(t *testing.T, wrap func(audit.Store) audit.Store) *audit.Ledger {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var s audit.Store = store
	if wrap != nil {
		s = wrap(store)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return audit.New(s, key)
}
