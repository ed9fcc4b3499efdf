package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// lostReply commits, then reports a failure, as a database whose connection
// was cut after COMMIT does.
type lostReply struct{ audit.Store }

func (s lostReply) Append(ctx context.Context, records []audit.Stored, head audit.Checkpoint) error {
	if err := s.Store.Append(ctx, records, head); err != nil {
		return err
	}
	return errors.New("read tcp 10.0.0.1:5432: connection reset by peer")
}

// A batch the store committed but whose answer was lost is not written
// again: the ledger sees its own last record at the head.
func TestALostCommitReplyIsNotWrittenTwice(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l := audit.New(lostReply{store}, key)
	recs, err := l.Append(context.Background(), audit.Record{Event: audit.EventSync, Application: "a/b", Actor: "controller", Result: audit.Succeeded})
	if err != nil || len(recs) != 1 || recs[0].Seq != 1 {
		t.Fatalf("append: %+v, %v", recs, err)
	}
	if seq, _, err := store.Head(context.Background()); err != nil || seq != 1 {
		t.Errorf("head %d, %v; want the one record", seq, err)
	}
}
