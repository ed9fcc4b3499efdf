package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// failingStore refuses appends while full is set, as a full disk does.
type failingStore struct {
	audit.Store
	full bool
}

func (s *failingStore) Append(ctx context.Context, recs []audit.Stored, head audit.Checkpoint) error {
	if s.full {
		return errors.New("disk full")
	}
	return s.Store.Append(ctx, recs, head)
}

func testJournal(t *testing.T) (*journal, *failingStore) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key, _ := audit.GenerateKey()
	fs := &failingStore{Store: store}
	return &journal{ledger: audit.New(fs, key)}, fs
}

func appAt(resourceVersion string) *v1.Application {
	return &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", ResourceVersion: resourceVersion}}
}

func rec(event audit.Event, actor string) audit.Record {
	return audit.Record{Event: event, Application: "team/web", Actor: actor, Result: audit.Succeeded}
}

func TestJournalKeepsRecordsTheStoreRefused(t *testing.T) {
	j, store := testJournal(t)
	ctx := context.Background()
	store.full = true
	if _, err := j.write(ctx, appAt("1"), []audit.Record{rec(audit.EventSync, "alice")}); err == nil {
		t.Fatal("a refused append was not reported")
	}
	store.full = false
	// The next pass has nothing of its own: the backlog is written anyway.
	written, err := j.write(ctx, appAt("2"), nil)
	if err != nil || len(written) != 1 || written[0].Actor != "alice" || written[0].Seq != 1 {
		t.Fatalf("backlog: %+v, %v", written, err)
	}
	if written, _ := j.write(ctx, appAt("3"), nil); len(written) != 0 {
		t.Fatalf("the backlog was written twice: %+v", written)
	}
}

func TestJournalDoesNotRecordOneApplicationVersionTwice(t *testing.T) {
	j, _ := testJournal(t)
	ctx := context.Background()
	manual := rec(audit.EventSync, "alice")
	if w, _ := j.write(ctx, appAt("7"), []audit.Record{manual}); len(w) != 1 {
		t.Fatal("first write")
	}
	// A pass that read the same version again (a stale cache, a lost status
	// write) sees the same request: not recorded again.
	if w, _ := j.write(ctx, appAt("7"), []audit.Record{manual}); len(w) != 0 {
		t.Fatalf("recorded twice: %+v", w)
	}
	// Something new from the same version is recorded.
	if w, _ := j.write(ctx, appAt("7"), []audit.Record{rec(audit.EventDrift, "controller")}); len(w) != 1 {
		t.Fatal("a different record from the same version was dropped")
	}
	// A newer version before any status was stored (the status write lost a
	// race with an annotation, say) repeats the pass: not recorded again.
	if w, _ := j.write(ctx, appAt("8"), []audit.Record{manual}); len(w) != 0 {
		t.Fatalf("recorded again after a lost status write: %+v", w)
	}
	// Once the status is stored, the same event from a newer version is a new
	// event.
	j.statusStored(appAt("8"))
	if w, _ := j.write(ctx, appAt("9"), []audit.Record{manual}); len(w) != 1 {
		t.Fatal("a repeat from a newer version was dropped")
	}
}
