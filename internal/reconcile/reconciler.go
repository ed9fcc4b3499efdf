// Package reconcile is the controller: it wires the pipeline stages (source →
// verify → render → policy → plan → apply → health → audit) for one Application
// at a time, as the Application's service account, and reports what happened in
// the Application's status, in events, in logs and in the ledger. It does no
// stage's work itself.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// Reconciler keeps Applications in sync.
type Reconciler struct {
	// Client reads Applications and Secrets and writes Application status.
	Client client.Client
	// Sources is the shared repository cache.
	Sources *source.Cache
	// Applier applies to the destination cluster.
	Applier *apply.Applier
	// Events records Kubernetes events on Applications.
	Events events.EventRecorder
	// KubeVersion is what Helm charts see as .Capabilities.KubeVersion.
	KubeVersion string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Ledger records every sync, drift, prune, denial and manual action; none
	// are recorded when nil.
	Ledger *audit.Ledger
	// Namespace is the controller's own: a Project's trusted keys are read
	// from it unless the Project names another.
	Namespace string
	// DefaultServiceAccount is the service account (in each Application's
	// namespace) to act as when neither the Application nor its Project names
	// one; "" acts as the controller itself.
	DefaultServiceAccount string

	journal     journal
	keys        ttlCache[*verify.KeyRing]
	decryptKeys ttlCache[string]
	renders     renderCache
	failures    failureCounter
	superseded  superseded
}

// SetupWithManager registers the controller: it reconciles on spec changes
// (generation), on the reconcile-requested-at and sync-requested-by annotations,
// and on each Application's interval.
// Further sources (watch events on managed objects) may be given.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, concurrency int, sources ...ctrlsource.Source) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	r.journal.ledger = r.Ledger
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1.Application{}, dependsOnIndex, indexDependsOn); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1.Application{}, projectIndex, indexProject); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1.Application{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1.Application{}, handler.EnqueueRequestsFromMapFunc(r.dependents), builder.WithPredicates(readinessChanged)).
		Watches(&v1.Project{}, handler.EnqueueRequestsFromMapFunc(r.projectApplications), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Run may start more than once in a process (tests restart it; so may a
		// program embedding Lockstep): the name is ours, a repeat is not a clash.
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency, SkipNameValidation: ptr.To(true)}).
		Named("application")
	for _, src := range sources {
		b = b.WatchesRawSource(src)
	}
	return b.Complete(r)
}

// Reconcile runs one pass of the pipeline for one Application. A status write
// that lost a race with another write (often the previous pass's own, not yet in
// the cache) is retried at once: status-only changes are not watched, so nothing
// else would bring the Application back.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	if errors.Is(err, errStatusConflict) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return res, err
}

var errStatusConflict = errors.New("the Application changed while its status was written")

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	app := &v1.Application{}
	if err := r.Client.Get(ctx, req.NamespacedName, app); err != nil {
		if apierrors.IsNotFound(err) {
			r.superseded.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.superseded.is(req.NamespacedName, app.ResourceVersion) {
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	logger := log.FromContext(ctx).WithValues("application", req.NamespacedName)
	before := app.Status.DeepCopy()
	st := newStatus(app, r.Now())
	actions := actionRecords(app, before)
	st.app.Status.LastHandledActionRequest = app.Annotations[v1.AnnotationActionRequestedBy]

	// Records are written before the status: a record written and a status
	// lost is retried without a duplicate (see journal); the reverse would lose
	// the record.
	if app.Spec.Suspend {
		st.suspended()
		if err := r.recordAndReport(ctx, app, actions); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.writeStatus(ctx, app, before, st)
	}
	if wait, err := r.dependencyWait(ctx, app); err != nil || wait != "" {
		if err := r.recordAndReport(ctx, app, actions); err != nil {
			return ctrl.Result{}, err
		}
		var cycle errDependencyCycle
		if errors.As(err, &cycle) {
			st.failed(v1.ReasonInvalidSpec, err, false)
			return ctrl.Result{}, r.writeStatus(ctx, app, before, st)
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		st.waiting(wait)
		// The dependency turning Ready wakes this one; the interval is a fallback.
		return ctrl.Result{RequeueAfter: outcome{}.requeueAfter(app, 0)}, r.writeStatus(ctx, app, before, st)
	}
	outcome := r.sync(ctx, app, st)
	written, err := r.record(ctx, app, append(actions, passRecords(app, before, st, outcome, r.Now())...))
	if err != nil {
		return ctrl.Result{}, err
	}
	// The pass's event names the ledger records it wrote; a pass with records
	// and no event of its own (a manual action) reports them alone.
	ref := ledgerRef(written)
	switch {
	case outcome.err != nil:
		msg := st.scrub.Scrub(outcome.err.Error())
		logger.Info("sync failed", "reason", outcome.reason, "error", msg)
		r.Events.Eventf(app, nil, "Warning", outcome.reason, "Sync", "%s%s", truncate(msg, 1024), ref)
	case outcome.reverted != "":
		logger.Info("drift reverted", "revision", st.app.Status.Sync.Revision, "drift", outcome.reverted)
		r.Events.Eventf(app, nil, "Normal", v1.ReasonDriftReverted, "SelfHeal", "Reverted drift: %s%s", truncate(outcome.reverted, 1024), ref)
	case outcome.changed:
		logger.Info("synced", "revision", st.app.Status.Sync.Revision, "summary", outcome.summary)
		r.Events.Eventf(app, nil, "Normal", v1.ReasonSucceeded, "Sync", "Synced %s: %s%s", shortHash(st.app.Status.Sync.Revision), outcome.summary, ref)
	case outcome.drift != "" && !st.unchangedFrom(before):
		logger.Info("drift detected", "revision", st.app.Status.Sync.Revision, "drift", outcome.drift)
		r.Events.Eventf(app, nil, "Warning", v1.ReasonDriftDetected, "Compare", "Drift detected: %s%s", truncate(outcome.drift, 1024), ref)
	default:
		r.reportRecords(app, written)
	}
	if err := r.writeStatus(ctx, app, before, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: outcome.requeueAfter(app, r.failures.record(req.NamespacedName, outcome.err != nil && outcome.transient))}, nil
}

// outcome is what one sync pass came to.
type outcome struct {
	// What the pass saw and did, for the ledger.
	pv      *Preview
	cs      apply.ChangeSet
	trigger string
	started time.Time

	err       error
	reason    string
	transient bool // retry soon: the cause may go away by itself
	changed   bool // something was applied or pruned
	summary   string
	drift     string        // drift seen and left (no self-heal), described
	reverted  string        // drift reverted by self-heal, described
	waitFor   time.Duration // sync.wait: how long health may still take
}

// requeueAfter is the Application's interval, or sooner after a transient
// failure: the retry backoff for the given attempt (1 for the first failure).
func (o outcome) requeueAfter(app *v1.Application, attempt int) time.Duration {
	interval := 3 * time.Minute
	if app.Spec.Sync.Interval != nil && app.Spec.Sync.Interval.Duration > 0 {
		interval = app.Spec.Sync.Interval.Duration
	}
	if o.waitFor > 0 {
		// Health changes arrive from the watch; this wakes the wait at its deadline.
		return min(interval, o.waitFor)
	}
	if o.err == nil || !o.transient {
		return interval
	}
	delay, ok := retryDelay(app.Spec.Sync.Retry, attempt)
	if !ok {
		return interval // retries used up: wait for the next interval or a change
	}
	return min(interval, delay)
}

// retryDelay is the exponential backoff before retry number attempt (doubling from
// retry.backoff, capped at retry.maxBackoff); ok is false past retry.limit.
func retryDelay(p *v1.RetryPolicy, attempt int) (delay time.Duration, ok bool) {
	first, ceiling, limit := 5*time.Second, 5*time.Minute, 0
	if p != nil {
		if p.Backoff != nil && p.Backoff.Duration > 0 {
			first = p.Backoff.Duration
		}
		if p.MaxBackoff != nil && p.MaxBackoff.Duration > 0 {
			ceiling = p.MaxBackoff.Duration
		}
		limit = int(p.Limit)
	}
	if limit > 0 && attempt > limit {
		return 0, false
	}
	delay = first
	for i := 1; i < attempt && delay < ceiling; i++ {
		delay *= 2
	}
	return min(delay, ceiling), true
}

// sync walks the pipeline. Every stage's failure stops it before anything is
// applied or pruned, and says which stage failed.
func (r *Reconciler) sync(ctx context.Context, app *v1.Application, st *status) (o outcome) {
	var (
		pv      *Preview
		cs      apply.ChangeSet
		trigger string
		started = r.Now()
	)
	defer func() { o.pv, o.cs, o.trigger, o.started = pv, cs, trigger, started }()
	timeout := 5 * time.Minute
	if app.Spec.Sync.Timeout != nil && app.Spec.Sync.Timeout.Duration > 0 {
		timeout = app.Spec.Sync.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	pv, err := r.Preview(ctx, app, st.sourceMaxAge())
	st.scrub = audit.NewScrubber(append(pv.Plan.DesiredObjects(), pv.rendered...))
	if pv.Commit != nil {
		st.attempted(*pv.Commit, pv.Verified)
	}
	if err != nil {
		se := &StageError{Reason: v1.ReasonPlanFailed, Err: err}
		errors.As(err, &se)
		return st.failed(se.Reason, se.Err, se.Transient)
	}
	p := pv.Plan
	// Drift: the cluster differs from what the last successful sync applied, and
	// neither Git nor the spec changed since. Only self-heal or a manual sync
	// reverts it.
	drift := !p.InSync() && app.Status.LastAppliedDigest == pv.Digest && !st.manualSyncPending()
	trigger = v1.TriggerGit
	switch {
	case st.manualSyncPending():
		trigger = v1.TriggerManual
	case drift && st.automated() && app.Spec.Sync.SelfHeal:
		trigger = v1.TriggerDrift
	case drift:
		st.drifted(*pv.Commit, p, pv.Observed)
		st.setHealth(healthOf(p, pv.Observed, apply.ChangeSet{}))
		return outcome{drift: describeDrift(p, pv.Observed)}
	case !p.InSync() && !st.syncAllowed():
		st.outOfSync(*pv.Commit, p)
		st.setHealth(healthOf(p, pv.Observed, apply.ChangeSet{}))
		return outcome{}
	}

	// apply (the namespace is created only when there is something to apply, so a
	// converged Application makes no request for it)
	if app.Spec.Sync.CreateNamespace && !p.InSync() {
		if _, err := pv.applier.EnsureNamespace(ctx, app.Spec.Destination.Namespace); err != nil {
			return st.failed(v1.ReasonApplyFailed, fmt.Errorf("creating namespace %s: %w", app.Spec.Destination.Namespace, err), true)
		}
	}
	started = r.Now()
	// Hooks run only when the sync applies something.
	hooks := !p.InSync()
	if hooks {
		if err := pv.applier.RunHooks(ctx, p.HooksOf(plan.PreSync)); err != nil {
			return r.hookFailed(ctx, st, pv, started, trigger, err)
		}
	}
	cs, err = pv.applier.Apply(ctx, p, apply.Options{})
	if err != nil {
		st.recordSync(*pv.Commit, p, cs, started, err, trigger)
		if hooks {
			r.runSyncFailedHooks(ctx, pv.applier, app, p)
		}
		return st.failed(v1.ReasonApplyFailed, err, isTransientAPIError(err))
	}
	if post := p.HooksOf(plan.PostSync); hooks && len(post) > 0 {
		err := pv.applier.WaitHealthy(ctx, p, cs)
		if err == nil {
			err = pv.applier.RunHooks(ctx, post)
		}
		if err != nil {
			st.recordInventory(p) // the objects were applied: they are ours to prune later
			return r.hookFailed(ctx, st, pv, started, trigger, err)
		}
	}
	changed := len(cs.Applied)+len(cs.Pruned) > 0
	st.synced(*pv.Commit, pv.Digest, p, cs, started, changed, trigger)
	byKey, sum := healthOf(p, pv.Observed, cs)
	st.setHealth(byKey, sum)
	o = outcome{changed: changed, summary: summary(cs)}
	if trigger == v1.TriggerDrift {
		o.reverted = describeDrift(p, pv.Observed)
	}
	if app.Spec.Sync.Wait {
		o.waitFor = st.waitHealthy(sum, timeout)
	}
	return o
}

// now is the clock, time.Now when none is set (a Reconciler used only for
// Preview, as `lockstep diff` does).
func (r *Reconciler) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Reconciler) renderOptions(app *v1.Application) render.Options {
	opts := render.Options{Namespace: app.Spec.Destination.Namespace, Substitute: app.Spec.Source.Substitute}
	opts.Helm.KubeVersion = r.KubeVersion
	opts.Helm.ReleaseName = app.Name
	if h := app.Spec.Source.Helm; h != nil {
		if h.ReleaseName != "" {
			opts.Helm.ReleaseName = h.ReleaseName
		}
		opts.Helm.ValuesFiles = h.ValuesFiles
	}
	if j := app.Spec.Source.Jsonnet; j != nil {
		opts.Jsonnet = render.JsonnetOptions{TLAs: j.TLAs, ExtVars: j.ExtVars}
	}
	return opts
}

func (r *Reconciler) writeStatus(ctx context.Context, app *v1.Application, before *v1.ApplicationStatus, st *status) error {
	if st.unchangedFrom(before) {
		r.journal.statusStored(app)
		return nil // doing nothing costs nothing: no write when nothing changed
	}
	app.Status = st.app.Status
	read := app.ResourceVersion
	if err := r.Client.Status().Update(ctx, app); err != nil {
		if apierrors.IsConflict(err) {
			return errStatusConflict
		}
		return fmt.Errorf("writing status: %w", err)
	}
	r.journal.statusStored(app)
	// A write the server found to change nothing keeps the version: nothing
	// is superseded then.
	if app.ResourceVersion != read {
		r.superseded.mark(types.NamespacedName{Namespace: app.Namespace, Name: app.Name}, read)
	}
	return nil
}

func sourceRef(r v1.GitRef) source.Ref {
	return source.Ref{Branch: r.Branch, Tag: r.Tag, Semver: r.Semver, Commit: r.Commit}
}

func inventoryFrom(refs []v1.ObjectReference) []plan.InventoryEntry {
	inv := make([]plan.InventoryEntry, len(refs))
	for i, r := range refs {
		inv[i] = plan.InventoryEntry{Key: object.Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}, Version: r.Version}
	}
	return inv
}

func summary(cs apply.ChangeSet) string {
	created, updated := 0, 0
	for _, s := range cs.Applied {
		if s.Action == plan.Create {
			created++
		} else {
			updated++
		}
	}
	return fmt.Sprintf("%d created, %d updated, %d pruned", created, updated, len(cs.Pruned))
}

func isTransientAPIError(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || errors.Is(err, context.DeadlineExceeded)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
