package pass

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// deniedReasons are the failures that are a refusal, not an accident: they are
// recorded as Denied.
var deniedReasons = []string{v1.ReasonPolicyDenied, v1.ReasonVerificationFailed}

// Records are the ledger records the pass leaves, given the status it leads to
// (next): the manual actions it handled (refresh, suspend, resume), then a sync
// attempt or a denial, a prune, a drift detected or reverted. A pass that found
// everything in sync leaves none; a failure or a drift is recorded when it is
// new, not on every retry.
func Records(p *Pass, next *v1.ApplicationStatus) []audit.Record {
	recs := actionRecords(p.Application)
	if p.Gated {
		return recs
	}
	before := &p.Application.Status
	base := baseRecord(p, next)
	if p.Reverted() || (p.Drifted() && readyChanged(before, next)) {
		d := base
		d.Event, d.Result, d.Actor, d.Message = audit.EventDrift, audit.Detected, audit.ActorController, DescribeDrift(p)
		if p.Reverted() {
			d.Result = audit.Reverted
		}
		scrub := p.Scrubber()
		for _, o := range Drift(p) {
			c := change(o.Step, audit.Update)
			if o.Deleted {
				c.Action = audit.Deleted
			} else {
				c.Fields = scrubFields(scrub, audit.FieldChanges(p.Observed.DryRun[o.Step.Key], p.Observed.Current[o.Step.Key], o.Step.ChangedFields))
				c.ChangedBy = o.ChangedBy
			}
			d.Changes = append(d.Changes, c)
		}
		recs = append(recs, d)
	}
	if p.Refused != nil {
		r := base
		r.Event, r.Result, r.Actor, r.Trigger = audit.EventSync, audit.Failed, p.Refused.Who, v1.TriggerManual
		r.Reason, r.Message = p.RefusalReason(), p.RefusalMessage()
		// The record names the commit asked for, which was not applied.
		r.Revision, r.Commit = p.Refused.Commit, nil
		recs = append(recs, r)
	}
	failed := p.Err != nil && readyChanged(before, next)
	manual := p.Request != nil && next.LastHandledSyncRequest != before.LastHandledSyncRequest
	caughtUp := p.CaughtUp()
	if !failed && !p.Changed() && !manual && !caughtUp {
		return recs
	}
	s := base
	s.Event, s.Result, s.Trigger = audit.EventSync, audit.Succeeded, p.Trigger
	s.Actor = p.Initiator()
	started := p.SyncStarted
	if started.IsZero() {
		started = p.Started
	}
	s.DurationMS = p.Finished.Sub(started).Milliseconds()
	if p.Err != nil {
		s.Result, s.Reason, s.Message = audit.Failed, p.Err.Reason, p.message(2048)
		if slices.Contains(deniedReasons, p.Err.Reason) {
			s.Event = audit.EventDenied
		}
	}
	s.Changes = planChanges(p)
	if caughtUp && !manual {
		s.Message = CaughtUpMessage
	}
	if s.Event == audit.EventSync && p.Applied {
		s.Images = images(p.Plan)
	}
	recs = append(recs, s)
	if len(p.Changes.Pruned) > 0 {
		pr := base
		pr.Event, pr.Result, pr.Actor, pr.Trigger = audit.EventPrune, audit.Succeeded, s.Actor, p.Trigger
		for _, step := range p.Changes.Pruned {
			pr.Changes = append(pr.Changes, change(step, audit.Prune))
		}
		recs = append(recs, pr)
	}
	return recs
}

// readyChanged reports whether this pass's failure or drift differs from the
// one the status already shows: a retry of the same failure, or the same drift
// seen again, is not a new record.
func readyChanged(before, next *v1.ApplicationStatus) bool {
	was := meta.FindStatusCondition(before.Conditions, v1.ConditionReady)
	now := meta.FindStatusCondition(next.Conditions, v1.ConditionReady)
	return was == nil || now == nil || was.Reason != now.Reason || was.Message != now.Message ||
		before.LastAttemptedRevision == nil || next.LastAttemptedRevision == nil ||
		before.LastAttemptedRevision.Commit != next.LastAttemptedRevision.Commit
}

// Initiator is who asked for this pass's sync: the user of the manual request
// it acts on, or the controller.
func (p *Pass) Initiator() string {
	if p.Request != nil {
		return p.Request.Who
	}
	return audit.ActorController
}

// baseRecord holds what every record of a pass shares: the Application, where
// it goes, the revision and its commit, and the health after the pass.
func baseRecord(p *Pass, next *v1.ApplicationStatus) audit.Record {
	app := p.Application
	rec := audit.Record{
		Application: app.Namespace + "/" + app.Name,
		Cluster:     app.Spec.Destination.Cluster,
		Namespace:   app.Spec.Destination.Namespace,
		Actor:       audit.ActorController,
		Project:     p.Project,
	}
	if rec.Cluster == "" {
		rec.Cluster = v1.InCluster
	}
	if prev := app.Status.LastAppliedRevision; prev != nil {
		rec.PreviousRevision = prev.Commit
	}
	if p.Commit != nil {
		rec.Revision = p.Commit.Hash
		rec.Rollback = p.Rollback
		rec.Commit = commitOf(*p.Commit)
		if p.Verified != nil {
			rec.Commit.TrustedKey = p.Verified.Key
		}
	}
	if h := next.Health; h != nil {
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
func planChanges(p *Pass) []audit.Change {
	cs, failed, scrub := p.Changes, p.Err != nil, p.Scrubber()
	done := map[object.Key]bool{}
	for _, s := range cs.Applied {
		done[s.Key] = true
	}
	for _, s := range cs.Pruned {
		done[s.Key] = true
	}
	errs := map[object.Key]string{}
	for _, e := range cs.Failed {
		errs[e.Key] = Truncate(scrub.Scrub(e.Err.Error()), 512)
	}
	var out []audit.Change
	for _, step := range p.Plan.Steps {
		if step.Action != plan.Create && step.Action != plan.Update && step.Action != plan.Prune {
			continue
		}
		if !done[step.Key] && errs[step.Key] == "" && !failed {
			continue
		}
		c := change(step, audit.Action(step.Action))
		if step.Action == plan.Update {
			c.Fields = scrubFields(scrub, audit.FieldChanges(p.Observed.Current[step.Key], p.Observed.DryRun[step.Key], step.ChangedFields))
			c.Rollout = audit.RollsOut(step.Key.Group, step.Key.Kind, step.ChangedFields)
			if step.Adopted {
				c.Action = audit.Adopt
			}
		}
		c.Error = errs[step.Key]
		if failed && !done[step.Key] && c.Error == "" {
			c.Error = "not applied: the sync stopped before this object"
		}
		out = append(out, c)
	}
	return out
}

// images are the images the plan's objects run once applied: those it
// creates, updates and leaves unchanged, not the hooks (they run once).
func images(pl plan.Plan) []string {
	var objs []*unstructured.Unstructured
	for _, s := range pl.Steps {
		if s.Action != plan.Prune && s.Desired != nil {
			objs = append(objs, s.Desired)
		}
	}
	return policy.Images(objs)
}

// scrubFields hides Secret values a chart or a manifest copied into another
// object's fields (a ConfigMap's data from a value read from a Secret): the
// ledger keeps what it records for good.
func scrubFields(scrub audit.Scrubber, fields []audit.FieldChange) []audit.FieldChange {
	for i := range fields {
		fields[i].From, fields[i].To = scrub.Scrub(fields[i].From), scrub.Scrub(fields[i].To)
	}
	return fields
}

func change(step plan.Step, action audit.Action) audit.Change {
	return audit.Change{Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind, Namespace: step.Key.Namespace, Name: step.Key.Name, Action: action}
}

// actionRecords records manual actions on the Application: a refresh asked
// for, a suspend or a resume. The actor is the user `lockstep refresh|suspend|
// resume` named in the action-requested-by annotation, or else the field
// manager that last wrote the Application.
func actionRecords(app *v1.Application) []audit.Record {
	before := &app.Status
	request := app.Annotations[v1.AnnotationActionRequestedBy]
	fresh := request != "" && request != before.LastHandledActionRequest
	action, who := "", ""
	if fresh {
		req := v1.ParseActionRequest(request)
		action, who = req.Action, req.Who
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
	return append(recs, holdRecords(app, base, actor)...)
}

// holdRecords records a hold put on the Application, or its release, when the
// annotation differs from the hold the status shows (the one last recorded).
// Either is by whoever `lockstep hold` or `lockstep rollback` named in the
// action-requested-by annotation, or else the field manager that changed it.
func holdRecords(app *v1.Application, base audit.Record, actor func(string) string) []audit.Record {
	now, was := v1.ParseHold(app.Annotations[v1.AnnotationHold]), app.Status.Hold
	if equality.Semantic.DeepEqual(now, was) {
		return nil
	}
	r := base
	if now == nil {
		r.Event, r.Actor, r.Revision = audit.EventRelease, actor("release"), was.RollbackTo
		r.Message = "released the hold: " + was.Reason
		return []audit.Record{r}
	}
	// The actor is who the action-requested-by annotation names, as for
	// every manual action, not the hold's own "by": whoever may patch the
	// Application could write either, but the field manager fallback is
	// the API server's record of who did.
	r.Event, r.Actor, r.Revision, r.Message = audit.EventHold, actor("hold"), now.RollbackTo, now.Reason
	if now.RollbackCommit != "" {
		r.Message += " (rollback commit " + now.RollbackCommit
		if now.Branch != "" {
			r.Message += " on branch " + now.Branch
		}
		r.Message += ")"
	}
	return []audit.Record{r}
}
