package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// fixture is a ledger in a temporary file, with a raw connection to the same file
// for playing the attacker.
type fixture struct {
	path   string
	store  *sqlite.Store
	ledger *audit.Ledger
	raw    *sql.DB
	key    ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return &fixture{path: path, store: store, ledger: audit.New(store, key), raw: raw, key: key}
}

func record(i int) audit.Record {
	return audit.Record{
		Event: audit.EventSync, Application: "team-a/web", Namespace: "prod", Revision: fmt.Sprintf("%040d", i),
		Actor: audit.ActorController, Result: audit.Succeeded, Trigger: "Git",
		Commit:  &audit.Commit{Author: fmt.Sprintf("Dev %d <dev%d@example.com>", i%3, i%3), Subject: fmt.Sprintf("Change %d", i)},
		Changes: []audit.Change{{Version: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "web", Action: audit.Update, Fields: []audit.FieldChange{{Path: "data.n", From: `"1"`, To: `"2"`}}}},
	}
}

func (f *fixture) appendN(t *testing.T, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := f.ledger.Append(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) verify(t *testing.T) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), f.store, f.ledger.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.raw.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestIntactChainVerifies(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 20)
	rep := f.verify(t)
	if !rep.OK() || rep.Records != 20 || rep.First != 1 || rep.Last != 20 || !rep.KeyTrusted {
		t.Fatalf("report = %+v", rep)
	}
	if rep.Key != audit.Fingerprint(f.ledger.PublicKey()) {
		t.Errorf("key = %s", rep.Key)
	}
}

func TestEmptyLedgerVerifies(t *testing.T) {
	f := newFixture(t)
	if rep := f.verify(t); !rep.OK() || rep.Records != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		firstAt uint64
		says    string
	}{
		{"edited record", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET body = replace(body, 'Change 7', 'Change 8') WHERE seq = 7")
		}, 7, "record #7 was altered"},
		{"edited author column only", func(t *testing.T, f *fixture) {
			// The indexed column is not what is hashed; the body is the record.
			f.exec(t, "UPDATE records SET author = replace(author, 'Dev 0', 'Mallory') WHERE seq = 3")
			f.exec(t, "UPDATE records SET body = replace(body, 'Dev 0', 'Mallory') WHERE seq = 3")
		}, 3, "record #3 was altered"},
		{"edited application column (hides the record from history)", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET application = 'team-b/other' WHERE seq = 4")
		}, 4, "record #4: the index the store keeps for it"},
		{"edited author column (misattributes the change)", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET author = 'Somebody Else <x@y>' WHERE seq = 6")
		}, 6, "record #6: the index the store keeps for it"},
		{"object index row deleted (hides the record from blame)", func(t *testing.T, f *fixture) {
			f.exec(t, "DELETE FROM record_objects WHERE seq = 7")
		}, 7, "record #7: the index the store keeps for it"},
		{"deleted record", func(t *testing.T, f *fixture) {
			f.exec(t, "DELETE FROM records WHERE seq = 5")
		}, 5, "record #5 is missing"},
		{"deleted first record", func(t *testing.T, f *fixture) {
			f.exec(t, "DELETE FROM records WHERE seq = 1")
		}, 1, "records #1 to #1 are missing"},
		{"truncated (newest deleted)", func(t *testing.T, f *fixture) {
			f.exec(t, "DELETE FROM records WHERE seq > 17")
		}, 18, "records #18 to #20 are missing"},
		{"edited newest record", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET body = replace(body, 'Change 20', 'Harmless') WHERE seq = 20")
		}, 20, "record #20 was altered"},
		{"reordered records", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET seq = -1 WHERE seq = 9")
			f.exec(t, "UPDATE records SET seq = 9 WHERE seq = 10")
			f.exec(t, "UPDATE records SET seq = 10 WHERE seq = -1")
		}, 9, "reordered"},
		{"forged record appended", func(t *testing.T, f *fixture) {
			var body []byte
			if err := f.raw.QueryRow("SELECT body FROM records WHERE seq = 20").Scan(&body); err != nil {
				t.Fatal(err)
			}
			prev, _ := audit.Decode(body)
			forged := record(21)
			forged.Seq, forged.PrevHash, forged.Time = 21, prev.Hash, time.Now()
			fb, _ := forged.Canonical()
			ix := audit.IndexOf(forged)
			f.exec(t, "INSERT INTO records (seq, time, event, application, author, body) VALUES (21, ?, ?, ?, ?, ?)",
				ix.Time.UnixNano(), string(ix.Event), ix.Application, ix.Author, fb)
			for _, o := range ix.Objects {
				f.exec(t, "INSERT INTO record_objects (seq, grp, kind, namespace, name) VALUES (21, ?, ?, ?, ?)", o.Group, o.Kind, o.Namespace, o.Name)
			}
		}, 21, "added without a signature"},
		{"checkpoint rolled back", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE checkpoints SET seq = 15 WHERE kind = 'head'")
		}, 0, "signature does not match"},
		{"garbage body", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET body = x'00ff7b' WHERE seq = 4")
		}, 4, "not a ledger record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendN(t, 20)
			tc.tamper(t, f)
			rep := f.verify(t)
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.FirstBadSeq != tc.firstAt || !strings.Contains(rep.Problem, tc.says) {
				t.Errorf("first bad = #%d %q; want #%d and %q", rep.FirstBadSeq, rep.Problem, tc.firstAt, tc.says)
			}
		})
	}
}

func TestCheckpointSignedByAnotherKeyIsRefused(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 3)
	other, _ := audit.GenerateKey()
	rep, err := audit.Verify(context.Background(), f.store, other.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Problem, "not by the trusted key") {
		t.Fatalf("report = %+v", rep)
	}
	// Without a trusted key, the ledger's own key is used and said so.
	rep, err = audit.Verify(context.Background(), f.store, nil)
	if err != nil || !rep.OK() || rep.KeyTrusted {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}

func TestRetentionCutsWithASignedCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 30)
	n, err := f.ledger.Retain(context.Background(), audit.Retention{MaxRecords: 10})
	if err != nil || n != 20 {
		t.Fatalf("Retain = %d, %v; want 20 deleted", n, err)
	}
	rep := f.verify(t)
	if !rep.OK() || rep.Records != 10 || rep.First != 21 || rep.CutAt != 21 {
		t.Fatalf("after the cut: %+v", rep)
	}
	// Appends continue the chain; a second cut moves the checkpoint.
	f.appendN(t, 5)
	if n, err := f.ledger.Retain(context.Background(), audit.Retention{MaxRecords: 10}); err != nil || n != 5 {
		t.Fatalf("second Retain = %d, %v", n, err)
	}
	if rep := f.verify(t); !rep.OK() || rep.First != 26 || rep.Last != 35 {
		t.Fatalf("after the second cut: %+v", rep)
	}
	// Deleting one more old record by hand is still caught.
	f.exec(t, "DELETE FROM records WHERE seq = 26")
	if rep := f.verify(t); rep.OK() || rep.FirstBadSeq != 26 {
		t.Fatalf("deletion after a cut not detected: %+v", rep)
	}
}

func TestRetentionByAge(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key, _ := audit.GenerateKey()
	l := audit.New(f.store, key, audit.WithClock(func() time.Time { return now }))
	for i := 1; i <= 10; i++ {
		now = now.Add(24 * time.Hour)
		if _, err := l.Append(context.Background(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Retain(context.Background(), audit.Retention{MaxAge: 72 * time.Hour})
	// Records 1..6 are more than three days old; record 7 is exactly three.
	if err != nil || n != 6 {
		t.Fatalf("Retain = %d, %v; want the 6 older than 3 days deleted", n, err)
	}
	rep, _ := audit.Verify(context.Background(), f.store, l.PublicKey())
	if !rep.OK() || rep.First != 7 {
		t.Fatalf("report = %+v", rep)
	}
	// Everything too old: the newest record stays.
	now = now.Add(100 * 24 * time.Hour)
	if _, err := l.Retain(context.Background(), audit.Retention{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := audit.Verify(context.Background(), f.store, l.PublicKey()); !rep.OK() || rep.Records != 1 || rep.First != 10 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestConcurrentAppendsMakeOneChain(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := f.ledger.Append(context.Background(), record(w*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if rep := f.verify(t); !rep.OK() || rep.Records != 200 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestTwoWritersOnOneFileKeepOneChain(t *testing.T) {
	// Two ledgers (as two processes would) on one file: the head moves under one
	// of them, and Append retries on the new head instead of forking the chain.
	f := newFixture(t)
	second, err := sqlite.Open(context.Background(), f.path, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	key, _ := audit.GenerateKey()
	other := audit.New(second, key)
	var wg sync.WaitGroup
	for _, l := range []*audit.Ledger{f.ledger, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				if _, err := l.Append(context.Background(), record(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := audit.Verify(context.Background(), f.store, nil)
	if err != nil || rep.Records != 60 || rep.Problem != "" {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}

func TestQueryFilters(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 9)
	drift := record(10)
	drift.Event, drift.Result, drift.Application = audit.EventDrift, audit.Detected, "team-b/api"
	drift.Changes = []audit.Change{{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "api", Action: audit.Update}}
	if _, err := f.ledger.Append(context.Background(), drift); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func(flt audit.Filter) int {
		t.Helper()
		recs, err := f.store.Query(ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"all", audit.Filter{}, 10},
		{"app", audit.Filter{Application: "team-a/web"}, 9},
		{"event", audit.Filter{Events: []audit.Event{audit.EventDrift}}, 1},
		{"author, any case", audit.Filter{Author: "DEV 1"}, 4}, // 1, 4, 7 and the drift (10)
		{"author with LIKE wildcards is literal", audit.Filter{Author: "%"}, 0},
		{"object", audit.Filter{Object: &audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "api"}}, 1},
		{"before (paging)", audit.Filter{Before: 4}, 3},
		{"limit", audit.Filter{Limit: 2}, 2},
		{"since the future", audit.Filter{Since: time.Now().Add(time.Hour)}, 0},
	} {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: %d records, want %d", tc.name, got, tc.want)
		}
	}
	recs, _ := f.store.Query(ctx, audit.Filter{Limit: 3})
	if recs[0].Seq != 10 || recs[2].Seq != 8 {
		t.Errorf("not newest first: %d..%d", recs[0].Seq, recs[2].Seq)
	}
}

func TestRecordsSurviveReopening(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 5)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), f.path, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l := audit.New(store, f.key)
	if _, err := l.Append(context.Background(), record(6)); err != nil {
		t.Fatal(err)
	}
	rep, _ := audit.Verify(context.Background(), store, f.key.Public().(ed25519.PublicKey))
	if !rep.OK() || rep.Records != 6 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestOpenRefusesWhatIsNotALedger(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, filepath.Join(dir, "missing.db"), sqlite.Options{MustExist: true}); err == nil {
		t.Error("a missing file was opened with MustExist")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, junk, sqlite.Options{MustExist: true}); err == nil || !strings.Contains(err.Error(), "not a SQLite database") {
		t.Errorf("junk file: %v", err)
	}
}

// Appends that arrive together are written together (group commit); each
// caller still gets back its own records, numbered.
func TestGroupCommitReturnsEachCallerItsOwnRecords(t *testing.T) {
	f := newFixture(t)
	const callers = 40
	var wg sync.WaitGroup
	seqs := make(chan uint64, 2*callers)
	for i := range callers {
		wg.Go(func() {
			a, b := record(1), record(2)
			a.Actor, b.Actor = fmt.Sprintf("caller-%d", i), fmt.Sprintf("caller-%d", i)
			out, err := f.ledger.Append(context.Background(), a, b)
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

// appendDuringWalk is a store whose first head read is followed at once by
// an append: a record the walk sees after the head it checks against.
type appendDuringWalk struct {
	*sqlite.Store
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
// TestTamperingIsDetected keeps the unsigned record refused.
func TestVerifyWhileRecordsAreAppended(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 5)
	rep, err := audit.Verify(context.Background(), &appendDuringWalk{Store: f.store, t: t, ledger: f.ledger}, f.ledger.PublicKey())
	if err != nil || !rep.OK() || rep.Last != 6 {
		t.Fatalf("verify during an append: %+v, %v", rep, err)
	}
}
