package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// syncRecord is a typical record: a sync of a commit with approvals that
// updated a Deployment (two fields, a rollout) and a ConfigMap, and created a
// Service.
func syncRecord(i int) audit.Record {
	return audit.Record{
		Event: audit.EventSync, Application: fmt.Sprintf("team-%d/web", i%50), Cluster: "in-cluster", Namespace: fmt.Sprintf("team-%d", i%50),
		Revision: fmt.Sprintf("%040x", i), PreviousRevision: fmt.Sprintf("%040x", i-1), Actor: audit.ActorController, Trigger: "Git",
		Result: audit.Succeeded, Health: "Healthy", DurationMS: 840,
		Commit: &audit.Commit{Author: "Ada Lovelace <ada@example.com>", Committer: "Merge Bot <merge@example.com>", Time: time.Now(),
			Subject: "Raise the web memory limit for OPS-1234", Tickets: []string{"OPS-1234"},
			ApprovedBy: []string{"Lena Lead <lena@example.com>", "Sam Sec <sam@example.com>"}},
		Changes: []audit.Change{
			{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "web", Action: audit.Update, Rollout: true, Fields: []audit.FieldChange{
				{Path: "spec.template.spec.containers[0].resources.limits.memory", From: `"256Mi"`, To: `"512Mi"`},
				{Path: "spec.template.spec.containers[0].image", From: `"registry.internal/web@sha256:1111"`, To: `"registry.internal/web@sha256:2222"`},
			}},
			{Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "web-settings", Action: audit.Update, Fields: []audit.FieldChange{{Path: "data.CACHE_MB", From: `"64"`, To: `"256"`}}},
			{Version: "v1", Kind: "Service", Namespace: "team", Name: "web", Action: audit.Create},
		},
	}
}

func openBench(b *testing.B) (*audit.Ledger, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ledger.db")
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	key, _ := audit.GenerateKey()
	return audit.New(store, key), path
}

// BenchmarkLedgerAppend measures records written per second, each append a
// durable transaction (synchronous=FULL) with a signed head checkpoint, as the
// controller writes them: one pass's records at a time.
func BenchmarkLedgerAppend(b *testing.B) {
	for _, batch := range []int{1, 3} {
		b.Run(fmt.Sprintf("records-per-append=%d", batch), func(b *testing.B) {
			l, _ := openBench(b)
			recs := make([]audit.Record, batch)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for j := range recs {
					recs[j] = syncRecord(i*batch + j)
				}
				if _, err := l.Append(context.Background(), recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkLedgerSize writes 10,000 typical records and reports the size of the
// database on disk, and how long a full verification of them takes.
func BenchmarkLedgerSize(b *testing.B) {
	const n = 10000
	for b.Loop() {
		l, path := openBench(b)
		for i := range n / 10 {
			recs := make([]audit.Record, 10)
			for j := range recs {
				recs[j] = syncRecord(i*10 + j)
			}
			if _, err := l.Append(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
		}
		started := time.Now()
		rep, err := audit.Verify(context.Background(), l.Store(), l.PublicKey())
		if err != nil || !rep.OK() || rep.Records != n {
			b.Fatalf("verify: %+v, %v", rep, err)
		}
		b.ReportMetric(time.Since(started).Seconds()*1000, "verify-ms/10k")
		// The database file, and the write-ahead log not yet folded into it
		// (SQLite folds it every 1,000 pages, so it stays a few MiB).
		for suffix, unit := range map[string]string{"": "db-MiB/10k-records", "-wal": "wal-MiB"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), unit)
			}
		}
		body, _ := syncRecord(1).Canonical()
		b.ReportMetric(float64(len(body)), "bytes/record-body")
	}
}
