package pass_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// A hold is recorded once when it is set (by whom, why, which rollback), shown
// in the status, and its release is recorded once with who cleared it; the
// actor is who the action annotation names, not the hold's own field. An
// annotation that is not a hold still holds: automation fails closed.
func TestAHoldIsRecordedWhenSetAndWhenReleased(t *testing.T) {
	p := syncPass(t)
	hold := v1.Hold{Reason: "rolled back: checkout 500s", By: "forged-in-the-json", At: metav1.NewTime(t0), RollbackTo: applied.Hash, RollbackCommit: strings.Repeat("c", 40), Branch: "lockstep/rollback/web"}
	// As lockstep rollback writes it: the hold, and who asked.
	for k, v := range v1.HoldPatch(&hold, "alice", t0)["metadata"].(map[string]any)["annotations"].(map[string]any) {
		if p.Application.Annotations == nil {
			p.Application.Annotations = map[string]string{}
		}
		p.Application.Annotations[k] = v.(string)
	}
	next := pass.Status(p)
	if !equality.Semantic.DeepEqual(next.Hold, &hold) {
		t.Fatalf("status.hold = %+v, want %+v", next.Hold, hold)
	}
	recs := holdRecords(pass.Records(p, &next))
	if len(recs) != 1 || recs[0].Event != audit.EventHold || recs[0].Actor != "alice" || recs[0].Revision != applied.Hash ||
		!strings.Contains(recs[0].Message, "checkout 500s (rollback commit cccc") || !strings.Contains(recs[0].Message, "on branch lockstep/rollback/web") {
		t.Fatalf("hold records %+v", recs)
	}

	// The next pass sees the recorded hold: nothing new.
	p.Application.Status = next
	p.Application.Status.LastHandledActionRequest = p.Application.Annotations[v1.AnnotationActionRequestedBy]
	if recs := holdRecords(pass.Records(p, &next)); len(recs) != 0 {
		t.Errorf("the hold was recorded again: %+v", recs)
	}

	// Cleared by bob.
	p.Application.Annotations = map[string]string{v1.AnnotationActionRequestedBy: v1.ActionRequestValue("release", "bob", t0.Add(time.Hour))}
	next = pass.Status(p)
	recs = holdRecords(pass.Records(p, &next))
	if next.Hold != nil || len(recs) != 1 || recs[0].Event != audit.EventRelease || recs[0].Actor != "bob" || !strings.Contains(recs[0].Message, "checkout 500s") {
		t.Errorf("release: status.hold %+v, records %+v", next.Hold, recs)
	}

	if h := v1.ParseHold("{not json"); h == nil || !strings.Contains(h.Reason, "unreadable") {
		t.Errorf("an unreadable hold: %+v", h)
	}
	if h := v1.ParseHold(v1.HoldValue(v1.Hold{Reason: strings.Repeat("é", 1000), By: "x"})); len(h.Reason) > v1.MaxHoldReason || !strings.HasPrefix(h.Reason, "éé") {
		t.Errorf("a long reason: %d bytes", len(h.Reason))
	}
}

func holdRecords(recs []audit.Record) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Event == audit.EventHold || r.Event == audit.EventRelease {
			out = append(out, r)
		}
	}
	return out
}

// HealthySince starts when the Application is Synced and Healthy, stays while
// passes change nothing (a commit elsewhere in the repository), restarts when
// a pass changes what runs, and ends when health does.
func TestHealthySinceCountsTheSoak(t *testing.T) {
	p := syncPass(t)
	first := pass.Status(p)
	if first.HealthySince == nil || !first.HealthySince.Time.Equal(p.Finished) {
		t.Fatalf("after a healthy sync: healthySince %v, want %v", first.HealthySince, p.Finished)
	}
	steady := syncPass(t)
	steady.Application.Status = first
	steady.Plan.Steps[0].Action = "Unchanged"
	steady.Finished = p.Finished.Add(time.Hour)
	if got := pass.Status(steady); got.HealthySince == nil || !got.HealthySince.Time.Equal(p.Finished) {
		t.Errorf("a pass that changed nothing moved healthySince to %v", got.HealthySince)
	}
	changed := syncPass(t)
	changed.Application.Status = first
	changed.Finished = p.Finished.Add(2 * time.Hour)
	if got := pass.Status(changed); got.HealthySince == nil || !got.HealthySince.Time.Equal(changed.Finished) {
		t.Errorf("a pass that changed what runs kept healthySince at %v", got.HealthySince)
	}
	sick := syncPass(t)
	sick.Application.Status = first
	sick.HealthSummary.Status = "Degraded"
	if got := pass.Status(sick); got.HealthySince != nil {
		t.Errorf("a Degraded Application keeps healthySince %v", got.HealthySince)
	}
}

// A pass that finds applied what its status does not say was applied (the
// controller was killed between an apply and its records) records that sync,
// changes unknown; a steady pass records nothing.
func TestASyncAppliedByAKilledPassIsRecordedOnce(t *testing.T) {
	p := syncPass(t)
	p.Plan.Steps[0].Action = "Unchanged"
	p.Changes = apply.ChangeSet{}
	p.Application.Status.LastAppliedDigest = "sha256:old"
	next := pass.Status(p)
	var syncs []audit.Record
	for _, r := range pass.Records(p, &next) {
		if r.Event == audit.EventSync {
			syncs = append(syncs, r)
		}
	}
	if len(syncs) != 1 || syncs[0].Result != audit.Succeeded || syncs[0].Message != pass.CaughtUpMessage || len(syncs[0].Changes) != 0 {
		t.Fatalf("records %+v", syncs)
	}
	p.Application.Status = next
	if recs := pass.Records(p, &next); len(recs) != 0 {
		t.Errorf("a steady pass after it recorded %+v", recs)
	}
}
