package pass

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// maxHistory is how many syncs the status keeps; the audit ledger keeps them all.
const maxHistory = 10

// Status is the Application's status after the pass. It starts from the status
// before, so what the pass did not look at stays as it was, and a pass that
// found nothing new returns an equal status (which the caller need not write).
func Status(p *Pass) v1.ApplicationStatus {
	b := &statusBuilder{p: p, app: p.Application, st: *p.Application.Status.DeepCopy(), now: metav1.NewTime(p.Finished)}
	b.st.LastHandledActionRequest = b.app.Annotations[v1.AnnotationActionRequestedBy]
	b.st.Hold = v1.ParseHold(b.app.Annotations[v1.AnnotationHold])
	switch {
	case p.Suspended:
		b.suspended()
	case p.Gated && p.Err != nil:
		b.failed()
	case p.Gated:
		b.waiting()
	default:
		b.pipeline()
	}
	if p.Refused != nil {
		b.refused()
	}
	b.deployed()
	b.st.Resources, b.st.ResourcesOmitted = boundResources(b.st.Resources, b.st.ResourcesOmitted)
	return b.st
}

// deployed marks the applied commit deployed once the cluster runs it in
// sync and healthy; a later wobble of health at the same commit leaves it.
//
// HealthySince starts when the Application is Synced and Healthy, and ends
// whenever it stops being so or a pass changes what runs: a promotion's
// soak counts from it. A commit elsewhere in the repository that renders
// the same objects does not restart it.
func (b *statusBuilder) deployed() {
	st := &b.st
	if st.Sync.Status == v1.Synced && st.Health != nil && st.Health.Status == string(health.Healthy) &&
		st.LastAppliedRevision != nil && st.Sync.Revision == st.LastAppliedRevision.Commit {
		if st.HealthySince == nil || b.p.Applied && !b.p.Plan.InSync() {
			since := b.now
			st.HealthySince = &since
		}
		st.LastDeployedRevision = st.LastAppliedRevision.Commit
		return
	}
	if !b.p.Suspended && !b.p.Gated {
		st.HealthySince = nil
	}
}

// refused handles a manual sync request pinned to a commit that is no
// longer the newest: it is answered with a failed history entry, so that
// `lockstep sync` can say why.
func (b *statusBuilder) refused() {
	b.st.LastHandledSyncRequest = b.app.Annotations[v1.AnnotationSyncRequestedBy]
	rec := v1.SyncRecord{Revision: b.p.Refused.Commit, StartedAt: b.now, FinishedAt: b.now, Result: v1.SyncFailed,
		Initiator: b.p.Refused.Who, Trigger: v1.TriggerManual, Message: Truncate(b.p.RefusalMessage(), 512)}
	b.st.History = append([]v1.SyncRecord{rec}, b.st.History...)
	if len(b.st.History) > maxHistory {
		b.st.History = b.st.History[:maxHistory]
	}
}

// statusBuilder builds the next status of one Application from one pass.
type statusBuilder struct {
	p   *Pass
	app *v1.Application // the Application as the pass read it
	st  v1.ApplicationStatus
	now metav1.Time
}

func (b *statusBuilder) pipeline() {
	p := b.p
	if p.Commit != nil {
		b.attempted()
	}
	if p.Err != nil {
		if !p.SyncStarted.IsZero() {
			if p.Applied {
				b.recordInventory() // the objects were applied: they are ours to prune later
			}
			b.recordSync(true)
		}
		b.failed()
		b.failedSyncState()
		return
	}
	switch p.Decision {
	case ReportDrift:
		b.drifted()
	case AwaitSync:
		b.outOfSync()
	default:
		b.synced()
	}
	b.setHealth()
	if p.Decision == Sync && b.app.Spec.Sync.Wait {
		b.waitHealthy()
	}
}

func (b *statusBuilder) set(condType string, st metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&b.st.Conditions, metav1.Condition{
		Type: condType, Status: st, Reason: reason, Message: message,
		ObservedGeneration: b.app.Generation, LastTransitionTime: b.now,
	})
}

// settled marks the spec and any refresh request handled.
func (b *statusBuilder) settled() {
	b.st.ObservedGeneration = b.app.Generation
	meta.RemoveStatusCondition(&b.st.Conditions, v1.ConditionReconciling)
	b.st.LastHandledReconcileAt = b.app.Annotations[v1.AnnotationReconcileRequestedAt]
}

// ready settles the pass with a Ready condition that is not a failure.
func (b *statusBuilder) ready(st metav1.ConditionStatus, reason, message string) {
	b.settled()
	meta.RemoveStatusCondition(&b.st.Conditions, v1.ConditionStalled)
	b.set(v1.ConditionReady, st, reason, message)
}

func (b *statusBuilder) suspended() {
	b.ready(metav1.ConditionFalse, v1.ReasonSuspended, "Reconciliation is suspended; unset spec.suspend to resume")
}

func (b *statusBuilder) waiting() {
	b.ready(metav1.ConditionFalse, v1.ReasonDependencyWait, b.p.Waiting)
}

// failed records a stage failure. A transient failure is retried as it is; any
// other is Stalled until the spec, a credential or the repository changes.
func (b *statusBuilder) failed() {
	b.settled()
	msg := b.p.message(2048)
	b.set(v1.ConditionReady, metav1.ConditionFalse, b.p.Err.Reason, msg)
	if b.p.Err.Transient {
		meta.RemoveStatusCondition(&b.st.Conditions, v1.ConditionStalled)
	} else {
		b.set(v1.ConditionStalled, metav1.ConditionTrue, b.p.Err.Reason, msg)
	}
}

// failedSyncState says how the cluster compares with the newest commit when
// the pass could not finish: never "Synced" with an older revision while a newer
// one is refused. Unknown when the desired state could not be worked out (the
// source or the render failed); OutOfSync when the newest commit was not
// applied; unchanged when the refused commit is the one already applied (a
// Project tightened: the cluster still runs what Git says).
func (b *statusBuilder) failedSyncState() {
	p, reason := b.p, b.p.Err.Reason
	applied := ""
	if b.st.LastAppliedRevision != nil {
		applied = b.st.LastAppliedRevision.Commit
	}
	switch {
	case p.Commit == nil:
		// The newest commit is not known: none is named.
		b.st.Sync = v1.SyncStatus{Status: v1.Unknown, Reason: reason}
	case reason == v1.ReasonRenderFailed:
		b.st.Sync = v1.SyncStatus{Status: v1.Unknown, Revision: p.Commit.Hash, Reason: reason}
	case p.Applied && p.Commit.Hash == applied:
		// Everything was applied; a hook failed after.
	case p.SyncStarted.IsZero() && p.Commit.Hash == applied && b.st.Sync.Status == v1.Synced:
	default:
		b.st.Sync = v1.SyncStatus{Status: v1.OutOfSync, Revision: p.Commit.Hash, Reason: reason}
	}
}

func (b *statusBuilder) attempted() {
	b.st.LastAttemptedRevision = revision(*b.p.Commit)
	if b.p.Verified != nil {
		b.st.LastAttemptedRevision.VerifiedBy = b.p.Verified.String()
	}
}

// outOfSync records a plan that waits for a manual sync.
func (b *statusBuilder) outOfSync() {
	n := b.p.Plan.Counts()
	b.ready(metav1.ConditionFalse, v1.ReasonOutOfSync,
		strings.Join([]string{strconv.Itoa(n[plan.Create]) + " to create", strconv.Itoa(n[plan.Update]) + " to update", strconv.Itoa(n[plan.Prune]) + " to prune"}, ", ")+
			"; automated sync is off: run `lockstep sync "+b.app.Name+"` to apply")
	b.st.Sync = v1.SyncStatus{Status: v1.OutOfSync, Revision: b.p.Commit.Hash}
	b.setResources(resources(b.p.Plan))
}

// drifted records objects changed or deleted in the cluster while Git stayed the
// same, and who changed them, without reverting anything.
func (b *statusBuilder) drifted() {
	fix := "set sync.selfHeal: true to revert drift automatically, or run `lockstep sync " + b.app.Name + "`"
	b.ready(metav1.ConditionFalse, v1.ReasonDriftDetected, Truncate(DescribeDrift(b.p), 1536)+"; "+fix)
	b.st.Sync = v1.SyncStatus{Status: v1.OutOfSync, Revision: b.p.Commit.Hash, Reason: v1.ReasonDriftDetected}
	b.setResources(resources(b.p.Plan))
	for i := range b.st.Resources {
		rs := &b.st.Resources[i]
		if rs.Action != v1.Action(plan.Update) {
			continue
		}
		if w, ok := lastWriter(b.p, object.Key{Group: rs.Group, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}); ok {
			rs.DriftedBy = &v1.Writer{Manager: w.Manager, Operation: w.Operation, Subresource: w.Subresource, Time: w.Time}
		}
	}
}

func (b *statusBuilder) synced() {
	p := b.p
	c := *p.Commit
	b.ready(metav1.ConditionTrue, v1.ReasonSucceeded, "Applied revision "+c.Short())
	b.st.Sync = v1.SyncStatus{Status: v1.Synced, Revision: c.Hash}
	previous := b.st.LastAppliedRevision
	b.st.LastAppliedRevision = revision(c)
	if a := b.st.LastAttemptedRevision; a != nil && a.Commit == c.Hash {
		b.st.LastAppliedRevision.VerifiedBy = a.VerifiedBy
	}
	if previous != nil && previous.Commit == c.Hash && previous.VerifiedBy == b.st.LastAppliedRevision.VerifiedBy {
		// Same revision: keep the recorded metadata so the status does not churn.
		b.st.LastAppliedRevision = previous
	}
	b.recordInventory()
	changed := p.Changed()
	if changed || !sameResources(b.st.Resources, p.Plan) {
		// A pass that changed nothing keeps the entries of the sync that did, so
		// the status is not rewritten just to turn Create into Unchanged.
		b.setResources(resources(p.Plan))
	}
	b.st.LastAppliedDigest = p.Digest
	if changed || previous == nil || previous.Commit != c.Hash || b.p.Request != nil {
		b.recordSync(false)
	}
	b.st.LastHandledSyncRequest = b.app.Annotations[v1.AnnotationSyncRequestedBy]
}

// recordInventory records what the plan leaves under management, for pruning
// later: everything it applied or kept.
func (b *statusBuilder) recordInventory() {
	var inv []v1.ObjectReference
	for _, e := range b.p.Plan.Inventory() {
		inv = append(inv, v1.ObjectReference{Group: e.Group, Version: e.Version, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name})
	}
	b.st.SetManaged(inv)
}

// recordSync prepends a history entry. A failure identical to the newest entry
// (same revision, same message) is not repeated on every retry.
func (b *statusBuilder) recordSync(failed bool) {
	p := b.p
	rec := v1.SyncRecord{Revision: p.Commit.Hash, StartedAt: metav1.NewTime(p.SyncStarted), FinishedAt: b.now,
		Result: v1.SyncSucceeded, Initiator: p.Initiator(), Trigger: p.Trigger}
	created, updated := counts(p.Changes)
	rec.Created, rec.Updated, rec.Pruned = int32(created), int32(updated), int32(len(p.Changes.Pruned))
	if failed {
		rec.Result, rec.Message = v1.SyncFailed, p.message(512)
		if h := b.st.History; len(h) > 0 && h[0].Result == v1.SyncFailed && h[0].Revision == rec.Revision && h[0].Message == rec.Message {
			return
		}
	}
	b.st.History = append([]v1.SyncRecord{rec}, b.st.History...)
	if len(b.st.History) > maxHistory {
		b.st.History = b.st.History[:maxHistory]
	}
}

// setHealth writes the Application's and each resource's health.
func (b *statusBuilder) setHealth() {
	sum := b.p.HealthSummary
	// Health messages are the objects' own condition text: a Secret's value
	// quoted there must not reach the status, which every reader of the
	// Application sees.
	scrub := b.p.Scrubber()
	b.st.Health = &v1.HealthStatus{Status: string(sum.Status), Object: sum.Object, Message: Truncate(scrub.Scrub(sum.Message), 512)}
	for i := range b.st.Resources {
		rs := &b.st.Resources[i]
		r, ok := b.p.Health[object.Key{Group: rs.Group, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}]
		if !ok {
			rs.Health, rs.HealthMessage = "", ""
			continue
		}
		rs.Health, rs.HealthMessage = string(r.Status), ""
		if r.Status != health.Healthy {
			rs.HealthMessage = Truncate(scrub.Scrub(r.Message), 256)
		}
	}
}

// waitHealthy applies sync.wait: Ready only when every object is Healthy (or
// deliberately Suspended). A Degraded object fails the sync at once; a
// Progressing or Missing one is waited for until the timeout after the apply.
func (b *statusBuilder) waitHealthy() {
	sum, timeout := b.p.HealthSummary, b.p.SyncTimeout()
	switch {
	case sum.Status == health.Healthy || sum.Status == health.Suspended:
	case sum.Status == health.Degraded:
		b.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonHealthCheckFailed,
			Truncate(fmt.Sprintf("%s is Degraded: %s", sum.Object, sum.Message), 1024))
	case waitLeft(b.p, b.st.History) <= 0:
		b.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonHealthCheckFailed,
			Truncate(fmt.Sprintf("%s is still %s %s after the apply: %s", sum.Object, sum.Status, timeout, sum.Message), 1024))
	default:
		b.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonProgressing,
			Truncate(fmt.Sprintf("waiting for %s to be Healthy (%s: %s)", sum.Object, sum.Status, sum.Message), 1024))
		b.set(v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonProgressing, "waiting for health")
	}
}

// waitLeft is how much longer sync.wait waits for health after a synced pass:
// the timeout counts from the apply the history records for this revision.
// history is the status's after the pass. Zero when nothing is to wait for.
func waitLeft(p *Pass, history []v1.SyncRecord) time.Duration {
	switch p.HealthSummary.Status {
	case health.Healthy, health.Suspended, health.Degraded:
		return 0
	}
	appliedAt := p.Finished
	if len(history) > 0 && history[0].Result == v1.SyncSucceeded && history[0].Revision == p.Commit.Hash {
		appliedAt = history[0].FinishedAt.Time
	}
	return max(0, p.SyncTimeout()-p.Finished.Sub(appliedAt))
}

// sameResources reports whether the entries name the plan's objects, in order,
// with no drift recorded on them.
func sameResources(entries []v1.ResourceStatus, p plan.Plan) bool {
	if len(entries) != len(p.Steps) {
		return false
	}
	for i, step := range p.Steps {
		e := entries[i]
		if e.DriftedBy != nil || e.Group != step.Key.Group || e.Kind != step.Key.Kind || e.Namespace != step.Key.Namespace ||
			e.Name != step.Key.Name || step.Action == plan.Keep || e.Action == v1.Action(plan.Keep) {
			return false
		}
	}
	return true
}

func resources(p plan.Plan) []v1.ResourceStatus {
	out := make([]v1.ResourceStatus, 0, len(p.Steps))
	for _, step := range p.Steps {
		out = append(out, v1.ResourceStatus{
			ObjectReference: v1.ObjectReference{Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind, Namespace: step.Key.Namespace, Name: step.Key.Name},
			Action:          v1.Action(step.Action),
			ChangedFields:   step.ChangedFields,
			Message:         step.Reason,
		})
	}
	return out
}

// revision is what the status says of a commit. What the commit's author
// wrote is cut to a size the status can hold, whatever the commit says: a
// subject of a megabyte would make every status write fail. The ledger keeps
// the commit as it is.
func revision(c source.Commit) *v1.Revision {
	const maxText, maxTrailers = 256, 32
	r := &v1.Revision{Commit: TruncateBytes(c.Hash, 64), Ref: TruncateBytes(c.Ref, maxText), Author: TruncateBytes(c.Author, maxText),
		Committer: TruncateBytes(c.Committer, maxText), Subject: TruncateBytes(c.Subject, maxText)}
	if !c.CommitTime.IsZero() {
		t := metav1.NewTime(c.CommitTime)
		r.CommitTime = &t
	}
	for _, tr := range c.Trailers[:min(len(c.Trailers), maxTrailers)] {
		r.Trailers = append(r.Trailers, v1.Trailer{Key: TruncateBytes(tr.Key, 64), Value: TruncateBytes(tr.Value, maxText)})
	}
	return r
}

// lastWriter is who last wrote the live object of key, apart from Lockstep.
func lastWriter(p *Pass, key object.Key) (object.Writer, bool) {
	live := p.Observed.Current[key]
	if live == nil {
		return object.Writer{}, false
	}
	return object.LastWriter(live, apply.FieldManager)
}

// counts is how many objects the change set created and updated.
func counts(cs apply.ChangeSet) (created, updated int) {
	for _, s := range cs.Applied {
		if s.Action == plan.Create {
			created++
		} else {
			updated++
		}
	}
	return created, updated
}

// Syncing is the status while the pass's sync runs in the background (it
// waits on hooks, waves or new CRDs): the previous status with Reconciling
// True, saying what is being applied and what it waits on.
func Syncing(p *Pass, now time.Time) v1.ApplicationStatus {
	b := &statusBuilder{p: p, app: p.Application, st: *p.Application.Status.DeepCopy(), now: metav1.NewTime(now)}
	var waits []string
	for _, phase := range []plan.HookPhase{plan.PreSync, plan.PostSync} {
		if n := len(p.Plan.HooksOf(phase)); n > 0 {
			waits = append(waits, fmt.Sprintf("%d %s hook(s)", n, phase))
		}
	}
	if n := len(p.Plan.Waves()); n > 1 {
		waits = append(waits, fmt.Sprintf("%d waves", n))
	}
	msg := fmt.Sprintf("syncing %s", p.Commit.Short())
	if len(waits) > 0 {
		msg += " (" + strings.Join(waits, ", ") + ")"
	}
	b.set(v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonProgressing, msg)
	return b.st
}

// LedgerUnavailable is app's status when the ledger cannot take a pass's
// records: as it was (what the pass did is not stated before it is
// recorded), but not Ready, saying why. The records wait in the controller
// and are written first when the ledger takes them again.
func LedgerUnavailable(app *v1.Application, err error, now time.Time) v1.ApplicationStatus {
	st := *app.Status.DeepCopy()
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1.ReasonLedgerUnavailable, ObservedGeneration: app.Generation, LastTransitionTime: metav1.NewTime(now),
		Message: Truncate("the audit ledger cannot be written, so nothing more is applied until it can: "+err.Error(), 1024)})
	return st
}
