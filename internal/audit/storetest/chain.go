package storetest

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

func intactChainVerifies(t *testing.T, f *fixture) {
	f.appendN(t, 20)
	rep := f.verify(t)
	if !rep.OK() || rep.Records != 20 || rep.First != 1 || rep.Last != 20 || !rep.KeyTrusted {
		t.Fatalf("report = %+v", rep)
	}
	if rep.Key != audit.Fingerprint(f.ledger.PublicKey()) {
		t.Errorf("key = %s", rep.Key)
	}
}

func emptyLedgerVerifies(t *testing.T, f *fixture) {
	if rep := f.verify(t); !rep.OK() || rep.Records != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

// tamperingIsDetected edits the tables as someone holding the database's
// credentials could, and expects Verify to name the first bad record.
func tamperingIsDetected(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		firstAt uint64
		says    string
	}{
		{"edited record", func(t *testing.T, f *fixture) {
			f.editBody(t, 7, "Change 7", "Change 8")
		}, 7, "record #7 was altered"},
		{"edited author column and body", func(t *testing.T, f *fixture) {
			// The indexed column is not what is hashed; the body is the record.
			f.exec(t, "UPDATE records SET author = replace(author, 'Dev 0', 'Mallory') WHERE seq = 3")
			f.editBody(t, 3, "Dev 0", "Mallory")
		}, 3, "record #3 was altered"},
		{"edited application column (hides the record from history)", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET application = 'team-b/other' WHERE seq = 4")
		}, 4, "record #4: the index the store keeps for it"},
		{"edited author column (misattributes the change)", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET author = 'Somebody Else <x@y>' WHERE seq = 6")
		}, 6, "record #6: the index the store keeps for it"},
		{"edited time column", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET time = time - 1 WHERE seq = 8")
		}, 8, "record #8: the index the store keeps for it"},
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
			f.editBody(t, 20, "Change 20", "Harmless")
		}, 20, "record #20 was altered"},
		{"reordered records", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET seq = -1 WHERE seq = 9")
			f.exec(t, "UPDATE records SET seq = 9 WHERE seq = 10")
			f.exec(t, "UPDATE records SET seq = 10 WHERE seq = -1")
		}, 9, "reordered"},
		{"forged record appended", func(t *testing.T, f *fixture) {
			var body []byte
			if err := f.db.Raw.QueryRowContext(t.Context(), "SELECT body FROM records WHERE seq = 20").Scan(&body); err != nil {
				t.Fatal(err)
			}
			prev, _ := audit.Decode(body)
			forged := record(21)
			forged.Seq, forged.PrevHash, forged.Time = 21, prev.Hash, time.Now()
			fb, _ := forged.Canonical()
			ix := audit.IndexOf(forged)
			f.exec(t, "INSERT INTO records (seq, time, event, application, author, body) VALUES (21, $1, $2, $3, $4, $5)",
				ix.Time.UnixNano(), string(ix.Event), ix.Application, ix.Author, fb)
			for _, o := range ix.Objects {
				f.exec(t, "INSERT INTO record_objects (seq, grp, kind, namespace, name) VALUES (21, $1, $2, $3, $4)", o.Group, o.Kind, o.Namespace, o.Name)
			}
		}, 21, "added without a signature"},
		{"checkpoint rolled back", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE checkpoints SET seq = 15 WHERE kind = 'head'")
		}, 0, "signature does not match"},
		{"garbage body", func(t *testing.T, f *fixture) {
			f.exec(t, "UPDATE records SET body = $1 WHERE seq = 4", []byte{0x00, 0xff, 0x7b})
		}, 4, "not a ledger record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, f.newDatabase)
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

func checkpointSignedByAnotherKeyIsRefused(t *testing.T, f *fixture) {
	f.appendN(t, 3)
	other := newKey(t)
	rep, err := audit.Verify(t.Context(), f.store, other.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Problem, "not by the trusted key") {
		t.Fatalf("report = %+v", rep)
	}
	// Without a trusted key, the ledger's own key is used and said so.
	rep, err = audit.Verify(t.Context(), f.store, nil)
	if err != nil || !rep.OK() || rep.KeyTrusted {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}

// A lost or replaced signing key is never silent: the ledger refuses the new
// key unless told, and then records the change, chained and signed.
func keyChangeIsRefusedOrRecorded(t *testing.T, f *fixture) {
	ctx := t.Context()
	first := f.ledger
	if err := first.CheckKey(ctx, false); err != nil {
		t.Fatalf("an empty ledger takes any key: %v", err)
	}
	if _, err := first.Append(ctx, audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded}); err != nil {
		t.Fatal(err)
	}
	if err := first.CheckKey(ctx, false); err != nil {
		t.Fatalf("the same key: %v", err)
	}
	second := audit.New(f.store, newKey(t))
	err := second.CheckKey(ctx, false)
	if !errors.Is(err, audit.ErrKeyChanged) || !strings.Contains(err.Error(), audit.Fingerprint(first.PublicKey())) || !strings.Contains(err.Error(), audit.Fingerprint(second.PublicKey())) {
		t.Fatalf("a new key without leave: %v", err)
	}
	if err := second.CheckKey(ctx, true); err != nil {
		t.Fatal(err)
	}
	recs, err := f.store.Query(ctx, audit.Filter{Events: []audit.Event{audit.EventKeyChanged}})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Message, audit.Fingerprint(first.PublicKey())) || recs[0].Application != audit.LedgerItself {
		t.Fatalf("the key change record: %+v, %v", recs, err)
	}
	rep, err := audit.Verify(ctx, f.store, second.PublicKey())
	if err != nil || !rep.OK() || rep.Records != 2 {
		t.Fatalf("verify after the change: %+v, %v", rep, err)
	}
	if err := second.CheckKey(ctx, false); err != nil {
		t.Errorf("once recorded, the new key is the ledger's: %v", err)
	}
}

func retentionCutsWithASignedCheckpoint(t *testing.T, f *fixture) {
	f.appendN(t, 30)
	n, err := f.ledger.Retain(t.Context(), audit.Retention{MaxRecords: 10})
	if err != nil || n != 20 {
		t.Fatalf("Retain = %d, %v; want 20 deleted", n, err)
	}
	rep := f.verify(t)
	if !rep.OK() || rep.Records != 10 || rep.First != 21 || rep.CutAt != 21 {
		t.Fatalf("after the cut: %+v", rep)
	}
	// Appends continue the chain; a second cut moves the checkpoint.
	f.appendN(t, 5)
	if n, err := f.ledger.Retain(t.Context(), audit.Retention{MaxRecords: 10}); err != nil || n != 5 {
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

func retentionByAge(t *testing.T, f *fixture) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := audit.New(f.store, f.key, audit.WithClock(func() time.Time { return now }))
	for i := 1; i <= 10; i++ {
		now = now.Add(24 * time.Hour)
		if _, err := l.Append(t.Context(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Retain(t.Context(), audit.Retention{MaxAge: 72 * time.Hour})
	// Records 1..6 are more than three days old; record 7 is exactly three.
	if err != nil || n != 6 {
		t.Fatalf("Retain = %d, %v; want the 6 older than 3 days deleted", n, err)
	}
	if rep := f.verify(t); !rep.OK() || rep.First != 7 {
		t.Fatalf("report = %+v", rep)
	}
	// Everything too old: the newest record stays.
	now = now.Add(100 * 24 * time.Hour)
	if _, err := l.Retain(t.Context(), audit.Retention{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK() || rep.Records != 1 || rep.First != 10 {
		t.Fatalf("report = %+v", rep)
	}
}

func recordsSurviveReopening(t *testing.T, f *fixture) {
	f.appendN(t, 5)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	store, l := f.reopen(t, f.key)
	if _, err := l.Append(t.Context(), record(6)); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), store, f.ledger.PublicKey())
	if err != nil || !rep.OK() || rep.Records != 6 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}
