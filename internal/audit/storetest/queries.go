package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

func queryFilters(t *testing.T, f *fixture) {
	ctx := t.Context()
	start := time.Now()
	f.appendN(t, 9)
	drift := record(10)
	drift.Event, drift.Result, drift.Application = audit.EventDrift, audit.Detected, "team-b/api"
	drift.Changes = []audit.Change{{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "api", Action: audit.Update}}
	if _, err := f.ledger.Append(ctx, drift); err != nil {
		t.Fatal(err)
	}
	seqs := func(flt audit.Filter) []uint64 {
		t.Helper()
		recs, err := f.store.Query(ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, r := range recs {
			out = append(out, r.Seq)
		}
		return out
	}
	deployment := audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "api"}
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want []uint64
	}{
		{"all, newest first", audit.Filter{}, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"oldest first", audit.Filter{OldestFirst: true, Limit: 3}, []uint64{1, 2, 3}},
		{"app", audit.Filter{Application: "team-b/api"}, []uint64{10}},
		{"event", audit.Filter{Events: []audit.Event{audit.EventDrift}}, []uint64{10}},
		{"events", audit.Filter{Events: []audit.Event{audit.EventDrift, audit.EventSync}, Limit: 2}, []uint64{10, 9}},
		{"app and event", audit.Filter{Application: "team-a/web", Events: []audit.Event{audit.EventDrift}}, nil},
		{"author, any case", audit.Filter{Author: "DEV 1"}, []uint64{10, 7, 4, 1}},
		{"author, part of it", audit.Filter{Author: "dev2@example"}, []uint64{8, 5, 2}},
		{"author with LIKE wildcards is literal", audit.Filter{Author: "%"}, nil},
		{"author with LIKE one-character wildcard is literal", audit.Filter{Author: "Dev_1"}, nil},
		{"author with the escape character is literal", audit.Filter{Author: `Dev\ 1`}, nil},
		{"object", audit.Filter{Object: &deployment}, []uint64{10}},
		{"object in another group", audit.Filter{Object: &audit.ObjectRef{Group: "extensions", Kind: "Deployment", Namespace: "prod", Name: "api"}}, nil},
		{"before (paging)", audit.Filter{Before: 4}, []uint64{3, 2, 1}},
		{"before, oldest first", audit.Filter{Before: 4, OldestFirst: true, Limit: 2}, []uint64{1, 2}},
		{"limit", audit.Filter{Limit: 2}, []uint64{10, 9}},
		{"since the future", audit.Filter{Since: time.Now().Add(time.Hour)}, nil},
		{"since the start", audit.Filter{Since: start, Limit: 1}, []uint64{10}},
		{"until the start", audit.Filter{Until: start}, nil},
		{"until the future", audit.Filter{Until: time.Now().Add(time.Hour), OldestFirst: true, Limit: 1}, []uint64{1}},
	} {
		if got := seqs(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: records %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := f.store.Query(ctx, audit.Filter{Author: "a\x00b"}); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("an author with a NUL: %v", err)
	}
}

// Scan walks every record in order, in pages the reader never sees, each with
// the index the store keeps for it, objects in the order they were written.
func scanIsInOrderAcrossPages(t *testing.T, f *fixture) {
	// Appends of 150 records, more than one statement inserts at once.
	const n, batch = 2345, 150
	for i := 0; i < n; i += batch {
		var recs []audit.Record
		for j := i; j < min(i+batch, n); j++ {
			r := record(j + 1)
			if j%2 == 0 {
				// Objects out of alphabetical order, to see the written order kept.
				r.Changes = append([]audit.Change{{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "prod", Name: "web", Action: audit.Update}}, r.Changes...)
			}
			recs = append(recs, r)
		}
		if _, err := f.ledger.Append(t.Context(), recs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, after := range []uint64{0, 1000, 1500, n} {
		next := after + 1
		err := f.store.Scan(t.Context(), after, func(seq uint64, body []byte, ix audit.Index) error {
			if seq != next {
				return errors.New("out of order")
			}
			rec, err := audit.Decode(body)
			if err != nil {
				return err
			}
			if want := audit.IndexOf(rec); !slices.Equal(ix.Objects, want.Objects) || !ix.Matches(want) {
				t.Errorf("record #%d: index %+v, want %+v", seq, ix, want)
			}
			next++
			return nil
		})
		if err != nil || next != n+1 {
			t.Fatalf("scan after #%d: stopped before #%d: %v", after, next, err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := f.store.Scan(t.Context(), 0, func(uint64, []byte, audit.Index) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("a scan told to stop: %d calls, %v", calls, err)
	}
}

// Git does not require a commit's author to be UTF-8; the canonical body
// spells such a name with U+FFFD, and so does the index the store keeps, so the
// record is stored (PostgreSQL refuses text that is not UTF-8), verifies and is
// found by its author.
func authorThatIsNotUTF8(t *testing.T, f *fixture) {
	r := record(1)
	r.Commit.Author = "Jos\xe9 Lat\xedn <jose@example.com>"
	if _, err := f.ledger.Append(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK() {
		t.Fatalf("report = %+v", rep)
	}
	recs, err := f.store.Query(t.Context(), audit.Filter{Author: "jose@"})
	if err != nil || len(recs) != 1 || recs[0].Commit.Author != "Jos\uFFFD Lat\uFFFDn <jose@example.com>" {
		t.Fatalf("query by author: %+v, %v", recs, err)
	}
}

// A Git writer may put a NUL byte in a commit's author or an object's name
// (PostgreSQL refuses one in text), or a name of many kilobytes (more than a
// PostgreSQL index entry takes). The store takes the record, its body keeps
// them whole, and it verifies, is found by its author and by its object: one
// record a store refused would hold every record behind it.
func hostileTextIsStored(t *testing.T, f *fixture) {
	r := record(1)
	r.Commit.Author = "Eve\x00 <eve@example.com>"
	long := "n\x00é" + unlikeBytes(12000) // what PostgreSQL cannot compress into an index entry
	r.Changes = append(r.Changes, audit.Change{Version: "v1", Kind: "ConfigMap\x00", Namespace: "prod", Name: long, Action: audit.Create})
	if _, err := f.ledger.Append(t.Context(), r, record(2)); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK() {
		t.Fatalf("report = %+v", rep)
	}
	recs, err := f.store.Query(t.Context(), audit.Filter{Author: "eve@"})
	if err != nil || len(recs) != 1 || recs[0].Commit.Author != r.Commit.Author || recs[0].Changes[1].Name != long {
		t.Fatalf("query by author: %d records, %v; want the record with its author and name whole", len(recs), err)
	}
	recs, err = f.store.Query(t.Context(), audit.Filter{Object: &audit.ObjectRef{Kind: "ConfigMap", Namespace: "prod", Name: "web"}})
	if err != nil || len(recs) != 2 {
		t.Fatalf("query by object: %d records, %v; want 2", len(recs), err)
	}
}

// unlikeBytes is n bytes of hexadecimal digits with no repeats a compressor
// could shorten.
func unlikeBytes(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}
