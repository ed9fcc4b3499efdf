// Package pass holds one pass of the pipeline over one Application as a value,
// and the pure functions that report it: the Application's next status
// (Status), the Events to emit (Events) and the ledger records to write
// (Records). The controller, `lockstep diff` and the API all get a Pass from
// reconcile.Pipeline; nothing here reads or writes anything, so every rule of
// reporting is table-tested without a cluster.
package pass

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Pass is everything one pass found and did, stage by stage. Fields of stages
// the pass did not reach are zero.
type Pass struct {
	// Application is the Application as the pass read it: its status is the
	// status before the pass.
	Application *v1.Application
	// Started is when the pass began, Finished when it ended: conditions and
	// history entries carry Finished.
	Started, Finished time.Time

	// Gate: a pass that stops before the pipeline (suspended, waiting for a
	// dependency, or a dependency cycle in Err) fetches nothing.
	Gated     bool
	Suspended bool
	Waiting   string // why it waits for a dependency

	// policy (before the fetch) and source
	Project string
	// Timeout bounds the sync: the Application's spec.sync.timeout as the
	// Project and the controller cap it; 0 before the Project was read.
	Timeout time.Duration
	// Identity is the user the pass reads and applies as
	// (system:serviceaccount:NAMESPACE:NAME); "" is the controller itself.
	Identity string
	// Revision is what a preview was asked to show instead of the followed
	// ref ("branch feature", "commit 3f2a…"); "" for the followed ref.
	Revision string
	// Commit is the newest commit of the followed ref (or Revision); nil when
	// the source failed.
	Commit *source.Commit
	// Resolved is when the ref was resolved to Commit (maybe by an earlier pass).
	Resolved time.Time
	// verify
	Verified  *verify.Result // the key that signed, nil when nothing is required
	Approvers []string       // the approvals the two-person rule counted
	// Rollback is true when Commit does not descend from the last applied
	// revision (or its descent could not be told).
	Rollback bool
	// render: the objects with where each came from, also when a later stage failed
	Rendered *render.Result
	// Secrets are values the render was given from Secrets (Helm valuesFrom):
	// hidden from every message, like the rendered Secrets' values, also when
	// the render failed.
	Secrets []string
	// plan
	Digest   string // identifies the desired objects (plan.Digest)
	Plan     plan.Plan
	Observed apply.Observation

	// Request is the manual sync request (`lockstep sync`) the pass acts on;
	// nil when none is pending or it was refused.
	Request *v1.SyncRequest
	// Refused is a pending manual sync request pinned to a commit that is no
	// longer the newest of the followed ref: the pass does not apply it, and
	// reports why.
	Refused *v1.SyncRequest

	// What the pass did with the plan.
	Decision Decision
	Trigger  string // v1.TriggerGit, TriggerManual or TriggerDrift, when it synced

	// apply
	SyncStarted time.Time       // when apply began; zero when it did not
	Changes     apply.ChangeSet // what was applied and pruned, also when it failed
	// Applied is true when the plan's objects reached the cluster (also when a
	// PostSync hook failed after): they are in the inventory, to prune later.
	Applied bool

	// health of every desired object, from the freshest state the pass holds
	Health        map[object.Key]health.Result
	HealthSummary health.Summary

	// Err is the stage that failed, nil when none did.
	Err *StageError
	// Unmet are the checks a previewed Revision fails that do not stop its
	// plan (signature, approvals, the rollback rule, prunes and adoptions the
	// Project refuses): a sync of it would be refused until they are met.
	// Always empty for the followed ref, whose failures are Err.
	Unmet []*StageError
}

// NoteUnmet notes err as a check the previewed Revision fails and returns nil, so
// the preview goes on to its plan; for the followed ref, or an error that is
// no check's verdict (a transient one), it returns err.
func (p *Pass) NoteUnmet(err error) error {
	var se *StageError
	if p.Revision == "" || !errors.As(err, &se) || se.Transient || se.Reason == v1.ReasonInvalidSpec {
		return err
	}
	p.Unmet = append(p.Unmet, se)
	return nil
}

// Decision is what a pass does with its plan.
type Decision string

const (
	// Sync applies the plan (which may change nothing).
	Sync Decision = "Sync"
	// ReportDrift leaves drift in place and reports it: self-heal is off.
	ReportDrift Decision = "ReportDrift"
	// AwaitSync leaves a change from Git for a manual sync: automated sync is off.
	AwaitSync Decision = "AwaitSync"
)

// StageError is the failure of one pipeline stage: Reason is the stage's
// condition reason (SourceFailed, RenderFailed, PolicyDenied, ...). A transient
// failure is retried as it is; any other needs a change.
type StageError struct {
	Reason    string
	Transient bool
	Err       error
}

func (e *StageError) Error() string { return e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Decide says what a pass does with a plan of app's desired objects (whose
// digest is digest). The cluster has drifted when it differs from what the last
// successful sync applied while neither Git nor the spec changed: only
// self-heal or a manual sync reverts that.
// manual says whether a manual sync request is to be acted on.
func Decide(app *v1.Application, p plan.Plan, digest string, manual bool) (d Decision, trigger string) {
	drift := !p.InSync() && app.Status.LastAppliedDigest == digest && !manual
	automated := app.Spec.Sync.IsAutomated()
	switch {
	case manual:
		return Sync, v1.TriggerManual
	case drift && automated && app.Spec.Sync.SelfHeal:
		return Sync, v1.TriggerDrift
	case drift:
		return ReportDrift, ""
	case !p.InSync() && !automated:
		return AwaitSync, ""
	}
	return Sync, v1.TriggerGit
}

// SyncTimeout is the pass's Timeout, or the Application's own before the
// Project was read.
func (p *Pass) SyncTimeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return p.Application.Spec.Sync.TimeoutOrDefault()
}

// ManualSyncPending says whether someone asked for a sync (`lockstep sync`)
// that no pass has handled yet.
func ManualSyncPending(app *v1.Application) bool {
	req := app.Annotations[v1.AnnotationSyncRequestedBy]
	return req != "" && req != app.Status.LastHandledSyncRequest
}

// TakeSyncRequest sets the pass's Request from app's pending manual sync
// request, or Refused when that request is pinned to a commit other than the
// pass's newest. It is called when the preview ends, failed or not.
func (p *Pass) TakeSyncRequest() {
	app := p.Application
	if !ManualSyncPending(app) {
		return
	}
	req := v1.ParseSyncRequest(app.Annotations[v1.AnnotationSyncRequestedBy])
	if (req.Commit != "" && p.Commit != nil && !strings.HasPrefix(p.Commit.Hash, req.Commit)) ||
		(req.Generation != 0 && req.Generation != app.Generation) {
		p.Refused = &req
		return
	}
	p.Request = &req
}

// RefusalReason is the reason of the refusal of the manual sync request:
// SpecChanged or RevisionChanged.
func (p *Pass) RefusalReason() string {
	if p.Refused != nil && p.Refused.Generation != 0 && p.Refused.Generation != p.Application.Generation {
		return v1.ReasonSpecChanged
	}
	return v1.ReasonRevisionChanged
}

// RefusalMessage says why the pass refused its manual sync request.
func (p *Pass) RefusalMessage() string {
	if p.Refused == nil {
		return ""
	}
	if p.RefusalReason() == v1.ReasonSpecChanged {
		return fmt.Sprintf("%s asked to sync generation %d of the Application, but its spec is now generation %d: preview again, then sync",
			p.Refused.Who, p.Refused.Generation, p.Application.Generation)
	}
	return fmt.Sprintf("%s asked to sync %s, but %s is now at %s: preview the new commit, then sync it",
		p.Refused.Who, short(p.Refused.Commit), p.Commit.Ref, p.Commit.Short())
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Synced reports whether the pass applied its plan without a failure.
func (p *Pass) Synced() bool {
	return p.Decision == Sync && p.Err == nil && !p.Gated && p.Commit != nil
}

// Changed reports whether the pass applied or pruned anything, and succeeded.
func (p *Pass) Changed() bool {
	return p.Synced() && len(p.Changes.Applied)+len(p.Changes.Pruned) > 0
}

// CaughtUp reports whether the pass found applied, unchanged, what its
// status does not say was applied: an earlier pass applied it and stopped
// before recording it (the controller was killed between the apply and the
// ledger). The pass records that sync then, changes unknown.
func (p *Pass) CaughtUp() bool {
	return p.Synced() && !p.Changed() && p.Digest != "" && p.Digest != p.Application.Status.LastAppliedDigest
}

// CaughtUpMessage is the message of the Sync record a CaughtUp pass writes;
// the ledger writer drops it when the ledger already holds that sync (the
// controller stopped after the records, before the status).
const CaughtUpMessage = "the cluster already held this: an earlier pass applied it and stopped before its status was written (the controller restarted), or nothing rendered differs; what changed is not known here"

// Reverted reports whether the pass reverted drift (self-heal).
func (p *Pass) Reverted() bool { return p.Synced() && p.Trigger == v1.TriggerDrift }

// Drifted reports whether the pass found drift and left it.
func (p *Pass) Drifted() bool { return p.Err == nil && !p.Gated && p.Decision == ReportDrift }

// Scrubber hides the values of the pass's Secrets in every message it
// reports: those Git wants (rendered and planned), those the cluster holds
// now (a rotated password's old value is on a diff's "-" lines and in a
// record's From), and the values read for the render.
func (p *Pass) Scrubber() audit.Scrubber {
	return p.ScrubberWith()
}

// ScrubberWith is Scrubber that also hides the values of more Secrets (the
// live ones, say, that a preview did not observe).
func (p *Pass) ScrubberWith(more ...*unstructured.Unstructured) audit.Scrubber {
	objs := p.Plan.DesiredObjects()
	if p.Rendered != nil {
		objs = append(objs, p.Rendered.Objects...)
	}
	for _, o := range p.Observed.Current {
		objs = append(objs, o)
	}
	for _, o := range p.Observed.DryRun {
		objs = append(objs, o)
	}
	return audit.NewScrubber(append(objs, more...), p.Secrets...)
}

// message is the stage error as reported: Secret values scrubbed, cut to n
// runes.
func (p *Pass) message(n int) string {
	return Truncate(p.Scrubber().Scrub(p.Err.Error()), n)
}

// TruncateBytes cuts s to at most n bytes, "…" included when it cuts; a cut
// never splits a character.
func TruncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	end := max(0, n-len(mark))
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}

// Truncate cuts s to at most n runes, marking the cut with "…"; a cut never
// splits a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s // no more bytes than runes allowed
	}
	i := 0
	for at := range s {
		if i == n {
			return s[:at] + "…"
		}
		i++
	}
	return s
}
