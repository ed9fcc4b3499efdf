package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// A lost or replaced signing key is never silent: the ledger refuses the new
// key unless told, and then records the change, chained and signed.
func TestALedgerKeyChangeIsRefusedOrRecorded(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldKey, _ := audit.GenerateKey()
	newKey, _ := audit.GenerateKey()
	first := audit.New(store, oldKey)
	if err := first.CheckKey(ctx, false); err != nil {
		t.Fatalf("an empty ledger takes any key: %v", err)
	}
	if _, err := first.Append(ctx, audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded}); err != nil {
		t.Fatal(err)
	}
	if err := first.CheckKey(ctx, false); err != nil {
		t.Fatalf("the same key: %v", err)
	}

	second := audit.New(store, newKey)
	err = second.CheckKey(ctx, false)
	if !errors.Is(err, audit.ErrKeyChanged) || !strings.Contains(err.Error(), audit.Fingerprint(first.PublicKey())) || !strings.Contains(err.Error(), audit.Fingerprint(second.PublicKey())) {
		t.Fatalf("a new key without leave: %v", err)
	}
	if err := second.CheckKey(ctx, true); err != nil {
		t.Fatal(err)
	}
	recs, err := store.Query(ctx, audit.Filter{Events: []audit.Event{audit.EventKeyChanged}})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Message, audit.Fingerprint(first.PublicKey())) || recs[0].Application != audit.LedgerItself {
		t.Fatalf("the key change record: %+v, %v", recs, err)
	}
	rep, err := audit.Verify(ctx, store, second.PublicKey())
	if err != nil || !rep.OK() || rep.Records != 2 {
		t.Fatalf("verify after the change: %+v, %v", rep, err)
	}
	if err := second.CheckKey(ctx, false); err != nil {
		t.Errorf("once recorded, the new key is the ledger's: %v", err)
	}
}
