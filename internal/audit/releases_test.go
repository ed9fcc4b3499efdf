package audit_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

var (
	relT0       = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	revA, revB  = strings.Repeat("a", 40), strings.Repeat("b", 40)
	revC        = strings.Repeat("c", 40)
	imgA, imgA2 = []string{"registry.internal/web@sha256:aaaa"}, []string{"registry.internal/web@sha256:aaa2"}
	imgB        = []string{"registry.internal/web@sha256:bbbb"}
)

// at is the time of record seq in these ledgers: a minute apart.
func at(seq uint64) time.Time { return relT0.Add(time.Duration(seq) * time.Minute) }

// rec is a record of web at rev, numbered seq.
func rec(seq uint64, event audit.Event, result audit.Result, rev, trigger string, images []string) audit.Record {
	r := audit.Record{Seq: seq, Time: at(seq), Event: event, Application: "team/web", Result: result, Revision: rev,
		Trigger: trigger, Actor: audit.ActorController, Images: images}
	if rev != "" {
		r.Commit = &audit.Commit{Author: "Ada <ada@example.com>", Subject: "web at " + rev[:1]}
	}
	return r
}

func synced(seq uint64, rev string, images []string) audit.Record {
	return rec(seq, audit.EventSync, audit.Succeeded, rev, "Git", images)
}

// release is the release of rev that began at record seq, ran syncs syncs
// and ended at record until (0: it is current).
func release(rev string, seq uint64, syncs int, until uint64, images []string) audit.Release {
	r := audit.Release{Revision: rev, Seq: seq, Since: at(seq), Actor: audit.ActorController, Trigger: "Git", Syncs: syncs, Images: images,
		Commit: &audit.Commit{Author: "Ada <ada@example.com>", Subject: "web at " + rev[:1]}}
	if until > 0 {
		r.Until = at(until)
	}
	return r
}

func TestReleasesAreRevisionChanges(t *testing.T) {
	manual := synced(3, revA, imgA2)
	manual.Trigger, manual.Actor = "Manual", "alice"
	rollback := synced(9, revA, imgA)
	rollback.Rollback = true
	wantRollback := release(revA, 9, 1, 0, imgA)
	wantRollback.Rollback = true
	drift := rec(5, audit.EventSync, audit.Succeeded, revB, "Drift", imgB)
	for _, tc := range []struct {
		name         string
		records      []audit.Record
		history      int
		want         []audit.Release
		wantComplete bool
	}{
		{"an empty ledger has no release", nil, 3, nil, false},
		{"re-syncs of a revision are one release, since the first; its images the newest sync's",
			[]audit.Record{synced(1, revA, imgA), rec(2, audit.EventDrift, audit.Reverted, revA, "", nil), manual},
			0, []audit.Release{release(revA, 1, 2, 0, imgA2)}, false},
		{"a revision change is a new release; the one before ends when it begins",
			[]audit.Record{synced(1, revA, imgA), synced(2, revA, imgA), synced(4, revB, imgB)},
			1, []audit.Release{release(revB, 4, 1, 0, imgB), release(revA, 1, 2, 4, imgA)}, false},
		{"history bounds the releases; a sync of another revision before the last one completes them",
			[]audit.Record{synced(1, revC, nil), synced(2, revA, imgA), synced(4, revB, imgB)},
			1, []audit.Release{release(revB, 4, 1, 0, imgB), release(revA, 2, 1, 4, imgA)}, true},
		{"without history only the current release",
			[]audit.Record{synced(1, revA, imgA), synced(4, revB, imgB)},
			0, []audit.Release{release(revB, 4, 1, 0, imgB)}, true},
		{"drift records and reverts at the same revision are no release",
			[]audit.Record{synced(1, revA, imgA), synced(4, revB, imgB), drift, rec(6, audit.EventDrift, audit.Detected, revB, "", nil)},
			5, []audit.Release{release(revB, 4, 2, 0, imgB), release(revA, 1, 1, 4, imgA)}, false},
		{"failed and refused syncs are no release: it begins when a sync at the revision succeeds",
			[]audit.Record{synced(1, revA, imgA), rec(2, audit.EventSync, audit.Failed, revB, "Git", nil),
				rec(3, audit.EventDenied, audit.Failed, revC, "Git", nil), rec(4, audit.EventSync, audit.Failed, "", "Git", nil),
				synced(5, revB, imgB), rec(6, audit.EventSync, audit.Failed, revC, "Git", nil)},
			5, []audit.Release{release(revB, 5, 1, 0, imgB), release(revA, 1, 1, 5, imgA)}, false},
		{"going back to an earlier revision is a new release",
			[]audit.Record{synced(1, revA, imgA), synced(4, revB, imgB), rollback, rec(10, audit.EventHold, audit.Succeeded, revA, "", nil)},
			5, []audit.Release{wantRollback, release(revB, 4, 1, 9, imgB), release(revA, 1, 1, 4, imgA)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, complete := audit.Releases(tc.records, tc.history)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("releases (-want +got):\n%s", diff)
			}
			if complete != tc.wantComplete {
				t.Errorf("complete = %v, want %v", complete, tc.wantComplete)
			}
			// The order records come in does not matter.
			reversed := slices.Clone(tc.records)
			slices.Reverse(reversed)
			if again, _ := audit.Releases(reversed, tc.history); !cmp.Equal(got, again) {
				t.Errorf("oldest first:\n%s", cmp.Diff(got, again))
			}
		})
	}
}

// The release's actor and trigger are those of the sync that got there,
// not of a later re-sync.
func TestAReleaseIsByWhoeverGotThere(t *testing.T) {
	first := synced(2, revB, imgB)
	first.Trigger, first.Actor = "Manual", "alice"
	got, _ := audit.Releases([]audit.Record{synced(1, revA, imgA), first, synced(3, revB, imgB)}, 0)
	if len(got) != 1 || got[0].Actor != "alice" || got[0].Trigger != "Manual" || got[0].Seq != 2 || got[0].Syncs != 2 {
		t.Errorf("releases %+v", got)
	}
}

// A record written before images were recorded keeps its canonical form:
// the field is left out when empty, so the chain of an older ledger holds.
func TestImagesLeaveOlderRecordsCanonicalFormAlone(t *testing.T) {
	r := synced(7, revA, nil)
	body, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	// As written before the field existed.
	older := `{"seq":7,"time":"2026-11-30T09:07:00Z","event":"Sync","application":"team/web","revision":"` + revA +
		`","commit":{"author":"Ada \u003cada@example.com\u003e","subject":"web at a"},"actor":"controller","trigger":"Git","result":"Succeeded"}`
	if string(body) != older {
		t.Errorf("canonical form\n got %s\nwant %s", body, older)
	}
	back, err := audit.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Canonical(); string(again) != string(body) {
		t.Errorf("canonical form changed on a round trip:\n%s\n%s", body, again)
	}
	r.Images = imgA
	if body, _ := r.Canonical(); !strings.Contains(string(body), `"images":["registry.internal/web@sha256:aaaa"]`) {
		t.Errorf("images not kept: %s", body)
	}
}
