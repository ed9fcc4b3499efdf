package audit

import (
	"slices"
	"time"
)

// Index is what a store keeps beside a record's body so that history, audit
// and blame can find it without decoding every body: when it was written,
// what kind of event, for which Application, by which author, about which
// objects. It is derived from the body alone (IndexOf), so Verify can tell an
// edited index from the record it claims to describe.
type Index struct {
	Time        time.Time
	Event       Event
	Application string
	Author      string
	// Objects are the objects the record changed, each once, in order.
	Objects []ObjectRef
}

// IndexOf is the index of a record, as every store writes it.
func IndexOf(r Record) Index {
	ix := Index{Time: r.Time, Event: r.Event, Application: r.Application}
	if r.Commit != nil {
		ix.Author = r.Commit.Author
	}
	seen := map[ObjectRef]bool{}
	for _, c := range r.Changes {
		if ref := c.Ref(); !seen[ref] {
			seen[ref] = true
			ix.Objects = append(ix.Objects, ref)
		}
	}
	return ix
}

// Matches reports whether a stored index says what want (from the body) says.
// Time is compared to the nanosecond, objects as a set.
func (ix Index) Matches(want Index) bool {
	if !ix.Time.Equal(want.Time) || ix.Event != want.Event || ix.Application != want.Application || ix.Author != want.Author ||
		len(ix.Objects) != len(want.Objects) {
		return false
	}
	for _, o := range want.Objects {
		if !slices.Contains(ix.Objects, o) {
			return false
		}
	}
	return true
}
