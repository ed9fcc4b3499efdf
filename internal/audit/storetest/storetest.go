// Package storetest is the contract every audit.Store meets, run by each
// store's tests against its real database: the chain and its checkpoints,
// tamper evidence as Verify sees it, retention, queries, and writers racing
// for the head. Its benchmarks measure every store the same way, so their
// numbers compare.
package storetest

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Database is an empty ledger database of the store under test.
type Database struct {
	// Open opens a store on the database. Each call opens another, as another
	// replica or a restart would; each is closed when the test ends.
	Open func(t testing.TB) audit.Store
	// Raw reaches the tables around the store, to play the attacker.
	// Statements number their parameters: $1, $2, ...
	Raw *sql.DB
	// Size, when set, says what the database takes on disk, in MiB by
	// benchmark unit ("db-MiB/10k-records"), for BenchmarkSize.
	Size func(t testing.TB) map[string]float64
}

// Run runs the contract as subtests of t; newDatabase makes an empty database
// for each.
func Run(t *testing.T, newDatabase func(t testing.TB) Database) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, f *fixture)
	}{
		{"IntactChainVerifies", intactChainVerifies},
		{"EmptyLedgerVerifies", emptyLedgerVerifies},
		{"TamperingIsDetected", tamperingIsDetected},
		{"CheckpointSignedByAnotherKeyIsRefused", checkpointSignedByAnotherKeyIsRefused},
		{"KeyChangeIsRefusedOrRecorded", keyChangeIsRefusedOrRecorded},
		{"RetentionCutsWithASignedCheckpoint", retentionCutsWithASignedCheckpoint},
		{"RetentionByAge", retentionByAge},
		{"ConcurrentAppendsMakeOneChain", concurrentAppendsMakeOneChain},
		{"GroupCommitReturnsEachCallerItsOwnRecords", groupCommitReturnsEachCallerItsOwnRecords},
		{"TwoWritersKeepOneChain", twoWritersKeepOneChain},
		{"ExactlyOneWriterWinsEachRound", exactlyOneWriterWinsEachRound},
		{"QueryFilters", queryFilters},
		{"ScanIsInOrderAcrossPages", scanIsInOrderAcrossPages},
		{"AuthorThatIsNotUTF8", authorThatIsNotUTF8},
		{"HostileTextIsStored", hostileTextIsStored},
		{"RecordsSurviveReopening", recordsSurviveReopening},
		{"VerifyWhileRecordsAreAppended", verifyWhileRecordsAreAppended},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newFixture(t, newDatabase)) })
	}
}

// fixture is a ledger on an empty database, with the way around it.
type fixture struct {
	newDatabase func(t testing.TB) Database
	db          Database
	store       audit.Store
	ledger      *audit.Ledger
	key         ed25519.PrivateKey
}

func newFixture(t *testing.T, newDatabase func(t testing.TB) Database) *fixture {
	t.Helper()
	db := newDatabase(t)
	store := db.Open(t)
	key := newKey(t)
	return &fixture{newDatabase: newDatabase, db: db, store: store, ledger: audit.New(store, key), key: key}
}

// record is a small sync record; its author is one of three.
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
		if _, err := f.ledger.Append(t.Context(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) verify(t *testing.T) audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), f.store, f.ledger.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// exec runs a statement on the raw connection, as an attacker with the
// database's credentials would.
func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.db.Raw.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// editBody replaces old with new in the stored body of record seq.
func (f *fixture) editBody(t *testing.T, seq int, old, new string) {
	t.Helper()
	var body []byte
	if err := f.db.Raw.QueryRowContext(t.Context(), "SELECT body FROM records WHERE seq = $1", seq).Scan(&body); err != nil {
		t.Fatal(err)
	}
	edited := bytes.ReplaceAll(body, []byte(old), []byte(new))
	if bytes.Equal(edited, body) {
		t.Fatalf("record #%d holds no %q", seq, old)
	}
	f.exec(t, "UPDATE records SET body = $1 WHERE seq = $2", edited, seq)
}

// reopen opens a second store on the same database and a ledger over it.
func (f *fixture) reopen(t *testing.T, key ed25519.PrivateKey) (audit.Store, *audit.Ledger) {
	store := f.db.Open(t)
	return store, audit.New(store, key)
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}
