package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// TypicalRecord is a typical record: a sync of a commit with approvals that
// updated a Deployment (two fields, a rollout) and a ConfigMap, and created a
// Service.
func TypicalRecord(i int) audit.Record {
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

// BenchmarkAppend measures records written per second, each append one
// durable transaction with a signed head checkpoint, as the controller writes
// them: one pass's records at a time.
func BenchmarkAppend(b *testing.B, newDatabase func(t testing.TB) Database) {
	for _, batch := range []int{1, 3} {
		b.Run(fmt.Sprintf("records-per-append=%d", batch), func(b *testing.B) {
			key, _ := audit.GenerateKey()
			l := audit.New(newDatabase(b).Open(b), key)
			recs := make([]audit.Record, batch)
			for i := 0; b.Loop(); i++ {
				for j := range recs {
					recs[j] = TypicalRecord(i*batch + j)
				}
				if _, err := l.Append(b.Context(), recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSize writes 10,000 typical records, ten per append, and reports
// how long a full verification of them takes and what Database.Size says they
// take on disk.
func BenchmarkSize(b *testing.B, newDatabase func(t testing.TB) Database) {
	const n = 10000
	for b.Loop() {
		db := newDatabase(b)
		key, _ := audit.GenerateKey()
		l := audit.New(db.Open(b), key)
		for i := range n / 10 {
			recs := make([]audit.Record, 10)
			for j := range recs {
				recs[j] = TypicalRecord(i*10 + j)
			}
			if _, err := l.Append(b.Context(), recs...); err != nil {
				b.Fatal(err)
			}
		}
		started := time.Now()
		rep, err := audit.Verify(b.Context(), l.Store(), l.PublicKey())
		if err != nil || !rep.OK() || rep.Records != n {
			b.Fatalf("verify: %+v, %v", rep, err)
		}
		b.ReportMetric(time.Since(started).Seconds()*1000, "verify-ms/10k")
		if db.Size != nil {
			for unit, v := range db.Size(b) {
				b.ReportMetric(v, unit)
			}
		}
		body, _ := TypicalRecord(1).Canonical()
		b.ReportMetric(float64(len(body)), "bytes/record-body")
	}
}
