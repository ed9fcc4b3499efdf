package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// deniedReasons are the failures that are a refusal, not an accident: they are
// recorded as Denied.
var deniedReasons = []string{v1.ReasonPolicyDenied, v1.ReasonVerificationFailed}

// record writes recs (when there is a ledger), logs each written record as a
// JSON line, and returns them with their numbers.
func (r *Reconciler) record(ctx context.Context, app *v1.Application, recs []audit.Record) ([]audit.Record, error) {
	if r.Ledger == nil {
		return nil, nil
	}
	written, err := r.journal.write(ctx, app, recs)
	if err != nil {
		return nil, err
	}
	logger := log.FromContext(ctx)
	for _, rec := range written {
		logger.Info("audit record", "seq", rec.Seq, "hash", rec.Hash, "record", rec)
	}
	return written, nil
}

// recordAndReport records and reports the records in an Event of their own.
func (r *Reconciler) recordAndReport(ctx context.Context, app *v1.Application, recs []audit.Record) error {
	written, err := r.record(ctx, app, recs)
	r.reportRecords(app, written)
	return err
}

// reportRecords emits one Event for records that no other Event of the pass
// names.
func (r *Reconciler) reportRecords(app *v1.Application, written []audit.Record) {
	if len(written) == 0 {
		return
	}
	parts := make([]string, len(written))
	for i, rec := range written {
		parts[i] = fmt.Sprintf("#%d %s", rec.Seq, describeRecord(rec))
	}
	r.Events.Eventf(app, nil, "Normal", "Recorded", string(written[0].Event), "Ledger %s", truncate(strings.Join(parts, "; "), 1024))
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
		parts = append(parts, "at "+shortHash(rec.Revision))
	}
	parts = append(parts, "by "+rec.Actor)
	if n := len(rec.Changes); n > 0 {
		parts = append(parts, fmt.Sprintf("(%d object(s))", n))
	}
	return strings.Join(parts, " ")
}

// passRecords are the records one pass of the pipeline leaves: a sync attempt
// (or a denial), a prune, a drift detected or reverted. A pass that found
// everything in sync leaves none; a failure is recorded when it is new, not on
// every retry.
func passRecords(app *v1.Application, before *v1.ApplicationStatus, st *status, o outcome, now time.Time) []audit.Record {
	var recs []audit.Record
	base := baseRecord(app, before, st, o.pv)
	if o.reverted != "" || (o.drift != "" && readyChanged(before, st)) {
		d := base
		d.Event, d.Result, d.Actor, d.Message = audit.EventDrift, audit.Detected, audit.ActorController, o.drift
		if o.reverted != "" {
			d.Result, d.Message = audit.Reverted, o.reverted
		}
		d.Changes = driftChanges(o.pv)
		recs = append(recs, d)
	}
	failed := o.err != nil && readyChanged(before, st)
	manual := st.app.Status.LastHandledSyncRequest != before.LastHandledSyncRequest
	if !failed && !o.changed && !manual {
		return recs
	}
	s := base
	s.Event, s.Result, s.Trigger = audit.EventSync, audit.Succeeded, o.trigger
	s.Actor = initiatorOf(app, before)
	if !o.started.IsZero() {
		s.DurationMS = now.Sub(o.started).Milliseconds()
	}
	if o.err != nil {
		s.Result, s.Reason, s.Message = audit.Failed, o.reason, truncate(st.scrub.Scrub(o.err.Error()), 2048)
		if slices.Contains(deniedReasons, o.reason) {
			s.Event = audit.EventDenied
		}
	}
	if o.pv != nil {
		s.Changes = planChanges(o.pv, o.cs, o.err != nil, st.scrub)
	}
	recs = append(recs, s)
	if len(o.cs.Pruned) > 0 {
		p := base
		p.Event, p.Result, p.Actor, p.Trigger = audit.EventPrune, audit.Succeeded, s.Actor, o.trigger
		for _, step := range o.cs.Pruned {
			p.Changes = append(p.Changes, change(step, audit.Prune))
		}
		recs = append(recs, p)
	}
	return recs
}

// readyChanged reports whether this pass's failure or drift differs from the
// one the status already shows: a retry of the same failure, or the same drift
// seen again, is not a new record.
func readyChanged(before *v1.ApplicationStatus, st *status) bool {
	was := meta.FindStatusCondition(before.Conditions, v1.ConditionReady)
	now := meta.FindStatusCondition(st.app.Status.Conditions, v1.ConditionReady)
	return was == nil || now == nil || was.Reason != now.Reason || was.Message != now.Message ||
		before.LastAttemptedRevision == nil || st.app.Status.LastAttemptedRevision == nil ||
		before.LastAttemptedRevision.Commit != st.app.Status.LastAttemptedRevision.Commit
}

// initiatorOf is who asked for this pass's sync: the user of a manual request
// not handled before, or the controller.
func initiatorOf(app *v1.Application, before *v1.ApplicationStatus) string {
	req := app.Annotations[v1.AnnotationSyncRequestedBy]
	if req != "" && req != before.LastHandledSyncRequest {
		who, _, _ := strings.Cut(req, " at ")
		return who
	}
	return audit.ActorController
}

// baseRecord holds what every record of a pass shares: the Application, where
// it goes, the revision and its commit, and the health after the pass.
func baseRecord(app *v1.Application, before *v1.ApplicationStatus, st *status, pv *Preview) audit.Record {
	rec := audit.Record{
		Application: app.Namespace + "/" + app.Name,
		Cluster:     app.Spec.Destination.Cluster,
		Namespace:   app.Spec.Destination.Namespace,
		Actor:       audit.ActorController,
	}
	if rec.Cluster == "" {
		rec.Cluster = v1.InCluster
	}
	if before.LastAppliedRevision != nil {
		rec.PreviousRevision = before.LastAppliedRevision.Commit
	}
	if pv != nil {
		rec.Project = pv.Project
	}
	if pv != nil && pv.Commit != nil {
		rec.Revision = pv.Commit.Hash
		rec.Commit = commitOf(*pv.Commit)
		if pv.Verified != nil {
			rec.Commit.TrustedKey = pv.Verified.Key
		}
	}
	if h := st.app.Status.Health; h != nil {
		rec.Health = h.Status
	}
	return rec
}

func commitOf(c source.Commit) *audit.Commit {
	return &audit.Commit{
		Author: c.Author, Committer: c.Committer, Time: c.CommitTime, Subject: c.Subject,
		Tickets:      c.Tickets(),
		ApprovedBy:   c.TrailerValues("Approved-by"),
		ReviewedBy:   c.TrailerValues("Reviewed-by"),
		SignatureKey: c.SignatureKey(),
	}
}

// planChanges is the plan as carried out: each object created, updated (with
// its changed fields) or pruned, and the error of each that failed. A failed
// sync lists everything it attempted.
func planChanges(pv *Preview, cs apply.ChangeSet, failed bool, scrub audit.Scrubber) []audit.Change {
	done := map[object.Key]bool{}
	for _, s := range cs.Applied {
		done[s.Key] = true
	}
	for _, s := range cs.Pruned {
		done[s.Key] = true
	}
	errs := map[object.Key]string{}
	for _, e := range cs.Failed {
		errs[e.Key] = truncate(scrub.Scrub(e.Err.Error()), 512)
	}
	var out []audit.Change
	for _, step := range pv.Plan.Steps {
		if step.Action != plan.Create && step.Action != plan.Update && step.Action != plan.Prune {
			continue
		}
		if !done[step.Key] && errs[step.Key] == "" && !failed {
			continue
		}
		c := change(step, audit.Action(step.Action))
		if step.Action == plan.Update {
			c.Fields = audit.FieldChanges(pv.Observed.Current[step.Key], pv.Observed.DryRun[step.Key], step.ChangedFields)
			c.Rollout = audit.RollsOut(step.Key.Group, step.Key.Kind, step.ChangedFields)
		}
		c.Error = errs[step.Key]
		if failed && !done[step.Key] && c.Error == "" {
			c.Error = "not applied: the sync stopped before this object"
		}
		out = append(out, c)
	}
	return out
}

// driftChanges describes each drifted object: the fields that differ from Git
// (from Git's value to the live one), or that it was deleted, and who its
// managedFields say changed it.
func driftChanges(pv *Preview) []audit.Change {
	if pv == nil {
		return nil
	}
	var out []audit.Change
	for _, step := range pv.Plan.Steps {
		live := pv.Observed.Current[step.Key]
		switch step.Action {
		case plan.Create:
			out = append(out, change(step, audit.Deleted))
		case plan.Update:
			c := change(step, audit.Update)
			c.Fields = audit.FieldChanges(pv.Observed.DryRun[step.Key], live, step.ChangedFields)
			if live != nil {
				if w, ok := object.LastWriter(live, apply.FieldManager); ok {
					c.ChangedBy = &audit.Writer{Manager: w.Manager, Operation: w.Operation, Time: w.Time}
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func change(step plan.Step, action audit.Action) audit.Change {
	return audit.Change{Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind, Namespace: step.Key.Namespace, Name: step.Key.Name, Action: action}
}

// actionRecords records manual actions on the Application: a refresh asked
// for, a suspend or a resume. The actor is the user `lockstep refresh|suspend|
// resume` named in the action-requested-by annotation, or else the field
// manager that last wrote the Application.
func actionRecords(app *v1.Application, before *v1.ApplicationStatus) []audit.Record {
	request := app.Annotations[v1.AnnotationActionRequestedBy]
	fresh := request != "" && request != before.LastHandledActionRequest
	action, who := "", ""
	if fresh {
		var rest string
		action, rest, _ = strings.Cut(request, " by ")
		who, _, _ = strings.Cut(rest, " at ")
	}
	actor := func(want string) string {
		if fresh && strings.EqualFold(action, want) && who != "" {
			return who
		}
		if w, ok := object.LastWriter(app, apply.FieldManager); ok {
			return w.Manager + " (field manager)"
		}
		return "unknown"
	}
	wasSuspended := false
	if c := meta.FindStatusCondition(before.Conditions, v1.ConditionReady); c != nil && c.Reason == v1.ReasonSuspended {
		wasSuspended = true
	}
	base := audit.Record{Application: app.Namespace + "/" + app.Name, Namespace: app.Spec.Destination.Namespace, Result: audit.Succeeded}
	var recs []audit.Record
	add := func(e audit.Event, who string) {
		r := base
		r.Event, r.Actor = e, who
		recs = append(recs, r)
	}
	if requested := app.Annotations[v1.AnnotationReconcileRequestedAt]; requested != "" && requested != before.LastHandledReconcileAt {
		add(audit.EventRefresh, actor("refresh"))
	}
	switch {
	case app.Spec.Suspend && !wasSuspended:
		add(audit.EventSuspend, actor("suspend"))
	case !app.Spec.Suspend && wasSuspended:
		add(audit.EventResume, actor("resume"))
	}
	return recs
}
