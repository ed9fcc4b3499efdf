package reconcile

import (
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// maxHistory is how many syncs the status keeps; the audit ledger keeps them all.
const maxHistory = 10

// status builds the next status of one Application during one pass. It works
// on a copy, so the caller can compare it with the status before.
type status struct {
	app *v1.Application
	now metav1.Time
	// scrub hides the values of the desired Secrets in failure messages.
	scrub audit.Scrubber
}

func newStatus(app *v1.Application, now time.Time) *status {
	return &status{app: app.DeepCopy(), now: metav1.NewTime(now)}
}

func (s *status) set(condType string, st metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.app.Status.Conditions, metav1.Condition{
		Type: condType, Status: st, Reason: reason, Message: message,
		ObservedGeneration: s.app.Generation, LastTransitionTime: s.now,
	})
}

func (s *status) settled() {
	s.app.Status.ObservedGeneration = s.app.Generation
	meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionReconciling)
	s.app.Status.LastHandledReconcileAt = s.app.Annotations[v1.AnnotationReconcileRequestedAt]
}

func (s *status) suspended() {
	s.settled()
	meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionStalled)
	s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonSuspended, "Reconciliation is suspended; unset spec.suspend to resume")
}

// failed records a stage failure. A transient failure is retried as it is; any
// other is Stalled until the spec, a credential or the repository changes.
func (s *status) failed(reason string, err error, transient bool) outcome {
	s.settled()
	msg := truncate(s.scrub.Scrub(err.Error()), 2048)
	s.set(v1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if transient {
		meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionStalled)
	} else {
		s.set(v1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	}
	return outcome{err: err, reason: reason, transient: transient}
}

func (s *status) attempted(c source.Commit, verified *verify.Result) {
	s.app.Status.LastAttemptedRevision = revision(c)
	if verified != nil {
		s.app.Status.LastAttemptedRevision.VerifiedBy = verified.String()
	}
}

// outOfSync records a plan that waits for a manual sync.
func (s *status) outOfSync(c source.Commit, p plan.Plan) {
	s.settled()
	meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionStalled)
	n := p.Counts()
	s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonOutOfSync,
		strings.Join([]string{strconv.Itoa(n[plan.Create]) + " to create", strconv.Itoa(n[plan.Update]) + " to update", strconv.Itoa(n[plan.Prune]) + " to prune"}, ", ")+
			"; automated sync is off: run `lockstep sync "+s.app.Name+"` to apply")
	s.app.Status.Sync = v1.SyncStatus{Status: v1.OutOfSync, Revision: c.Hash}
	s.app.Status.Resources = resources(p)
}

// drifted records objects changed or deleted in the cluster while Git stayed the
// same, and who changed them, without reverting anything.
func (s *status) drifted(c source.Commit, p plan.Plan, obs apply.Observation) {
	s.settled()
	meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionStalled)
	fix := "set sync.selfHeal: true to revert drift automatically, or run `lockstep sync " + s.app.Name + "`"
	s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonDriftDetected, truncate(describeDrift(p, obs), 1536)+"; "+fix)
	s.app.Status.Sync = v1.SyncStatus{Status: v1.OutOfSync, Revision: c.Hash}
	s.app.Status.Resources = resources(p)
	for i := range s.app.Status.Resources {
		rs := &s.app.Status.Resources[i]
		if rs.Action != v1.Action(plan.Update) {
			continue
		}
		key := object.Key{Group: rs.Group, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}
		if live := obs.Current[key]; live != nil {
			if w, ok := object.LastWriter(live, apply.FieldManager); ok {
				rs.DriftedBy = &v1.Writer{Manager: w.Manager, Operation: w.Operation, Subresource: w.Subresource, Time: w.Time}
			}
		}
	}
}

func (s *status) synced(c source.Commit, digest string, p plan.Plan, cs apply.ChangeSet, started time.Time, changed bool, trigger string) {
	s.settled()
	meta.RemoveStatusCondition(&s.app.Status.Conditions, v1.ConditionStalled)
	s.set(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded, "Applied revision "+shortHash(c.Hash))
	s.app.Status.Sync = v1.SyncStatus{Status: v1.Synced, Revision: c.Hash}
	previous := s.app.Status.LastAppliedRevision
	s.app.Status.LastAppliedRevision = revision(c)
	if a := s.app.Status.LastAttemptedRevision; a != nil && a.Commit == c.Hash {
		s.app.Status.LastAppliedRevision.VerifiedBy = a.VerifiedBy
	}
	if previous != nil && previous.Commit == c.Hash && previous.VerifiedBy == s.app.Status.LastAppliedRevision.VerifiedBy {
		// Same revision: keep the recorded metadata so the status does not churn.
		s.app.Status.LastAppliedRevision = previous
	}
	s.recordInventory(p)
	if changed || !sameResources(s.app.Status.Resources, p) {
		// A pass that changed nothing keeps the entries of the sync that did, so
		// the status is not rewritten just to turn Create into Unchanged.
		s.app.Status.Resources = resources(p)
	}
	s.app.Status.LastAppliedDigest = digest
	if changed || previous == nil || previous.Commit != c.Hash || s.manualSyncPending() {
		s.recordSync(c, p, cs, started, nil, trigger)
	}
	s.app.Status.LastHandledSyncRequest = s.app.Annotations[v1.AnnotationSyncRequestedBy]
}

// recordInventory records what the plan leaves under management, for pruning
// later: everything it applied or kept.
func (s *status) recordInventory(p plan.Plan) {
	var inv []v1.ObjectReference
	for _, e := range p.Inventory() {
		inv = append(inv, v1.ObjectReference{Group: e.Group, Version: e.Version, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name})
	}
	s.app.Status.Inventory = inv
}

// recordSync prepends a history entry. A failure identical to the newest entry
// (same revision, same message) is not repeated on every retry.
func (s *status) recordSync(c source.Commit, p plan.Plan, cs apply.ChangeSet, started time.Time, err error, trigger string) {
	rec := v1.SyncRecord{Revision: c.Hash, StartedAt: metav1.NewTime(started), FinishedAt: s.now, Result: v1.SyncSucceeded, Initiator: s.initiator(), Trigger: trigger}
	for _, step := range cs.Applied {
		if step.Action == plan.Create {
			rec.Created++
		} else {
			rec.Updated++
		}
	}
	rec.Pruned = int32(len(cs.Pruned))
	if err != nil {
		rec.Result, rec.Message = v1.SyncFailed, truncate(s.scrub.Scrub(err.Error()), 512)
		if h := s.app.Status.History; len(h) > 0 && h[0].Result == v1.SyncFailed && h[0].Revision == rec.Revision && h[0].Message == rec.Message {
			return
		}
	}
	s.app.Status.History = append([]v1.SyncRecord{rec}, s.app.Status.History...)
	if len(s.app.Status.History) > maxHistory {
		s.app.Status.History = s.app.Status.History[:maxHistory]
	}
}

// initiator is who asked for this sync: the user of a pending manual request, or
// the controller.
func (s *status) initiator() string {
	return initiatorOf(s.app, &s.app.Status)
}

func (s *status) manualSyncPending() bool {
	req := s.app.Annotations[v1.AnnotationSyncRequestedBy]
	return req != "" && req != s.app.Status.LastHandledSyncRequest
}

// syncAllowed says whether changes may be applied now: automated sync is on (the
// default), or someone asked for this sync.
func (s *status) syncAllowed() bool {
	return s.automated() || s.manualSyncPending()
}

func (s *status) automated() bool {
	return s.app.Spec.Sync.Automated == nil || *s.app.Spec.Sync.Automated
}

// specChangeMaxAge is how old a resolution may be for an Application whose spec
// just changed (or that was just created): fresh enough to see what was pushed
// before the change, old enough that 500 Applications created at once share one
// look at the repository instead of asking 500 times.
const specChangeMaxAge = 5 * time.Second

// sourceMaxAge lets a fresh resolution of the repository be reused, unless a
// reconcile or sync was explicitly requested or the spec changed.
func (s *status) sourceMaxAge() time.Duration {
	if s.app.Annotations[v1.AnnotationReconcileRequestedAt] != s.app.Status.LastHandledReconcileAt || s.manualSyncPending() {
		return 0
	}
	if s.app.Generation != s.app.Status.ObservedGeneration {
		return specChangeMaxAge
	}
	if s.app.Spec.Sync.Interval != nil {
		return s.app.Spec.Sync.Interval.Duration
	}
	return 3 * time.Minute
}

// unchangedFrom reports whether the new status equals the old one.
func (s *status) unchangedFrom(before *v1.ApplicationStatus) bool {
	return equality.Semantic.DeepEqual(before, &s.app.Status)
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

func revision(c source.Commit) *v1.Revision {
	r := &v1.Revision{Commit: c.Hash, Ref: c.Ref, Author: c.Author, Committer: c.Committer, Subject: c.Subject}
	if !c.CommitTime.IsZero() {
		t := metav1.NewTime(c.CommitTime)
		r.CommitTime = &t
	}
	for _, tr := range c.Trailers {
		r.Trailers = append(r.Trailers, v1.Trailer{Key: tr.Key, Value: tr.Value})
	}
	return r
}
