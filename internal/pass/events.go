package pass

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Event is a Kubernetes Event to emit on the Application.
type Event struct {
	Type   string // Normal or Warning
	Reason string
	Action string
	Note   string
	// Log is the controller's log message for it; "" when it is not logged
	// (the records it names are logged one by one).
	Log string
}

// Events are what the pass reports as Events, given the status it leads to and
// the ledger records written for it (with their numbers): one Event that names
// the records, or, for records no other Event names, one that lists them.
func Events(p *Pass, next *v1.ApplicationStatus, written []audit.Record) []Event {
	ref := ledgerRef(written)
	var events []Event
	if p.Refused != nil {
		events = append(events, Event{Type: "Warning", Reason: p.RefusalReason(), Action: "Sync", Log: "sync request refused", Note: note("", p.RefusalMessage(), "")})
	}
	return append(events, passEvents(p, next, written, ref)...)
}

func passEvents(p *Pass, next *v1.ApplicationStatus, written []audit.Record, ref string) []Event {
	switch {
	case p.Gated:
	case p.Err != nil:
		return []Event{{Type: "Warning", Reason: p.Err.Reason, Action: "Sync", Log: "sync failed",
			Note: note("", p.Scrubber().Scrub(p.Err.Error()), ref)}}
	case p.Reverted():
		return []Event{{Type: "Normal", Reason: v1.ReasonDriftReverted, Action: "SelfHeal", Log: "drift reverted",
			Note: note("Reverted drift: ", DescribeDrift(p), ref)}}
	case p.Changed():
		return []Event{{Type: "Normal", Reason: v1.ReasonSucceeded, Action: "Sync", Log: "synced",
			Note: note("Synced "+p.Commit.Short()+rollbackNote(p)+": ", Summary(p), ref)}}
	case p.Drifted() && !equality.Semantic.DeepEqual(&p.Application.Status, next):
		return []Event{{Type: "Warning", Reason: v1.ReasonDriftDetected, Action: "Compare", Log: "drift detected",
			Note: note("Drift detected: ", DescribeDrift(p), ref)}}
	}
	if len(written) == 0 {
		return nil
	}
	parts := make([]string, len(written))
	for i, rec := range written {
		parts[i] = fmt.Sprintf("#%d %s", rec.Seq, describeRecord(rec))
	}
	return []Event{{Type: "Normal", Reason: "Recorded", Action: string(written[0].Event), Note: note("Ledger ", strings.Join(parts, "; "), "")}}
}

// maxNoteBytes is the most an Event's note may hold: the API server refuses a
// longer one, and the Event is lost.
const maxNoteBytes = 1024

// note is prefix, body and suffix within maxNoteBytes: the body is cut (never
// inside a character) to make room for the rest.
func note(prefix, body, suffix string) string {
	return prefix + TruncateBytes(body, maxNoteBytes-len(prefix)-len(suffix)) + suffix
}

// Summary counts what a sync changed: "1 created, 2 updated, 0 pruned".
func Summary(p *Pass) string {
	created, updated := counts(p.Changes)
	return fmt.Sprintf("%d created, %d updated, %d pruned", created, updated, len(p.Changes.Pruned))
}

// ledgerRef names the records of a pass at the end of its Event: " (ledger #12, #13)".
func ledgerRef(written []audit.Record) string {
	if len(written) == 0 {
		return ""
	}
	seqs := make([]string, len(written))
	for i, rec := range written {
		seqs[i] = fmt.Sprintf("#%d", rec.Seq)
	}
	return " (ledger " + strings.Join(seqs, ", ") + ")"
}

func describeRecord(rec audit.Record) string {
	parts := []string{string(rec.Event), string(rec.Result)}
	if rec.Revision != "" {
		short := rec.Revision
		if len(short) > 12 {
			short = short[:12]
		}
		parts = append(parts, "at "+short)
	}
	parts = append(parts, "by "+rec.Actor)
	if n := len(rec.Changes); n > 0 {
		parts = append(parts, fmt.Sprintf("(%d object(s))", n))
	}
	return strings.Join(parts, " ")
}

// rollbackNote says that a synced revision rolled the Application back.
func rollbackNote(p *Pass) string {
	if !p.Rollback {
		return ""
	}
	return " (a rollback: it does not descend from the revision applied before)"
}
