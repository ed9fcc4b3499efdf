package audit

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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
//
// Its text is what any store can keep and index: a commit author or an object
// name comes from Git, where a writer may put a NUL byte (PostgreSQL refuses
// one in text) or thousands of bytes (more than a PostgreSQL index entry
// takes). Such text is indexed cleaned (indexText); the body keeps it whole,
// and one record a store refuses would hold every record behind it.
func IndexOf(r Record) Index {
	ix := Index{Time: r.Time, Event: r.Event, Application: indexText(r.Application)}
	if r.Commit != nil {
		ix.Author = indexText(r.Commit.Author)
	}
	seen := map[ObjectRef]bool{}
	for _, c := range r.Changes {
		if ref := c.Ref().indexed(); !seen[ref] {
			seen[ref] = true
			ix.Objects = append(ix.Objects, ref)
		}
	}
	return ix
}

// maxIndexText bounds each text an index holds, in bytes. Kubernetes names
// are at most 253; four fields of this size stay well inside the 2,704 bytes
// of a PostgreSQL b-tree entry (the object index holds kind, namespace, name
// and group).
const maxIndexText = 512

// indexed is the object as an index names it (indexText).
func (o ObjectRef) indexed() ObjectRef {
	return ObjectRef{Group: indexText(o.Group), Kind: indexText(o.Kind), Namespace: indexText(o.Namespace), Name: indexText(o.Name)}
}

// indexText is s as an index keeps it: NUL bytes replaced by U+FFFD, cut to
// maxIndexText bytes on a rune boundary.
func indexText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", string(utf8.RuneError))
	}
	if len(s) <= maxIndexText {
		return s
	}
	cut := maxIndexText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Matches reports whether a stored index says what want (from the body) says.
// Time is compared to the nanosecond, objects as a set. The stored text is
// cleaned as IndexOf cleans it, so indexes written whole by an older release
// still match.
func (ix Index) Matches(want Index) bool {
	if !ix.Time.Equal(want.Time) || ix.Event != want.Event || indexText(ix.Application) != want.Application ||
		indexText(ix.Author) != want.Author || len(ix.Objects) != len(want.Objects) {
		return false
	}
	for _, o := range want.Objects {
		if !slices.ContainsFunc(ix.Objects, func(s ObjectRef) bool { return s.indexed() == o }) {
			return false
		}
	}
	return true
}
