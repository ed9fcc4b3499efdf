package reconcile

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"

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
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	j := journal{ledger: audit.New(store, key)}
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
