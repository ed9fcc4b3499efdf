package audit

import (
	"cmp"
	"slices"
	"time"
)

// Release is one revision an Application ran: from the first successful sync
// at it, after a successful sync of another revision, until the next such
// sync. Re-syncs of the same revision (drift reverted, a manual sync, a
// changed spec) are part of the release; failed and refused syncs are none.
type Release struct {
	Revision string  `json:"revision"`
	Commit   *Commit `json:"commit,omitempty"`
	// Images are the images the release's newest sync applied
	// (Record.Images); empty when its records predate them.
	Images []string `json:"images,omitempty"`
	// Since is when the Application got there: the time of the release's
	// first sync, and Seq that sync's record.
	Since time.Time `json:"since"`
	Seq   uint64    `json:"seq"`
	// Actor and Trigger are who or what made that sync: the controller
	// following Git, or the user of a manual sync.
	Actor   string `json:"actor"`
	Trigger string `json:"trigger,omitempty"`
	// Rollback is true when that sync's revision did not descend from the
	// one applied before it (Record.Rollback).
	Rollback bool `json:"rollback,omitempty"`
	// Until is when the next release replaced it; zero for the current one.
	Until time.Time `json:"until,omitzero"`
	// Syncs counts the release's successful syncs, the first included.
	Syncs int `json:"syncs"`
}

// Releases turns the records of one Application (in any order) into its
// releases, newest first: the current one and at most history before it.
// Going back to a revision that ran before is a release of its own.
//
// complete reports that recs reach past the start of the oldest release
// returned (a successful sync of another revision before it): older records
// would change nothing. When it is false, the oldest release may have begun
// before the oldest record given; a caller pages further back, or, at the
// start of the ledger (or of what retention kept), has the best answer the
// ledger holds.
func Releases(recs []Record, history int) (releases []Release, complete bool) {
	var syncs []Record
	for _, r := range recs {
		if r.Event == EventSync && r.Result == Succeeded && r.Revision != "" {
			syncs = append(syncs, r)
		}
	}
	slices.SortFunc(syncs, func(a, b Record) int { return cmp.Compare(b.Seq, a.Seq) })
	var out []Release
	for _, r := range syncs {
		n := len(out)
		if n > 0 && out[n-1].Revision == r.Revision {
			// An older sync of the same revision: the release began earlier.
			rel := &out[n-1]
			rel.Syncs++
			rel.began(r)
			if len(rel.Images) == 0 {
				rel.Images = r.Images
			}
			continue
		}
		if n == max(history, 0)+1 {
			return out, true
		}
		rel := Release{Revision: r.Revision, Images: r.Images, Syncs: 1}
		if n > 0 {
			rel.Until = out[n-1].Since
		}
		rel.began(r)
		out = append(out, rel)
	}
	return out, false
}

// began takes the release's start from r, a sync of it older than those
// seen so far.
func (rel *Release) began(r Record) {
	rel.Since, rel.Seq, rel.Actor, rel.Trigger, rel.Rollback = r.Time, r.Seq, r.Actor, r.Trigger, r.Rollback
	if r.Commit != nil {
		rel.Commit = r.Commit
	}
}
