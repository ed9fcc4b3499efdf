// Package reconcile is the controller's loop. A Pipeline runs the stages for
// one Application (source → verify → render → policy → plan, then apply →
// health) and returns what it found as a pass.Pass; the Reconciler runs it for
// each Application when controller-runtime asks, and reports every pass through
// the pure renderers of package pass: the status, the Events, the log lines and
// the ledger records. The rules of its own are the controller's: when an
// Application is looked at (spec, annotations, interval, dependencies, watch
// events), and the guard against acting on a stale cache read (superseded).
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/api/equality"
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
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/notify"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Reconciler keeps Applications in sync by running the Pipeline for each.
type Reconciler struct {
	client   client.Client
	pipeline *Pipeline
	events   events.EventRecorder
	now      func() time.Time

	journal    journal
	failures   failureCounter
	superseded superseded
	refreshes  *refreshes
	notifier   Notifier
	ops        *operations // nil until SetupWithManager: syncs then run inline
	aging      *aging
}

// ReconcilerDeps are a Reconciler's collaborators.
type ReconcilerDeps struct {
	// Client reads Applications and writes their status. Required.
	Client client.Client
	// Pipeline runs the stages. Required.
	Pipeline *Pipeline
	// Events records Kubernetes Events on Applications. Required.
	Events events.EventRecorder
	// Ledger records every sync, drift, prune, denial and manual action; none
	// are recorded when nil.
	Ledger *audit.Ledger
	// Clock is the Pipeline's clock. Required.
	Clock func() time.Time
	// Notifier is told what each pass has to tell people; nil: nothing is.
	Notifier Notifier
}

// Notifier sends notifications: package subscription's, which finds the
// Notifications an Application is subscribed to. Notify must not block.
type Notifier interface {
	Notify(app *v1.Application, msgs []notify.Message)
}

// NewReconciler returns a Reconciler, or an error naming a missing collaborator.
func NewReconciler(d ReconcilerDeps) (*Reconciler, error) {
	if d.Client == nil || d.Pipeline == nil || d.Events == nil || d.Clock == nil {
		return nil, errors.New("reconcile.NewReconciler: Client, Pipeline, Events and Clock are required")
	}
	return &Reconciler{client: d.Client, pipeline: d.Pipeline, events: d.Events, now: d.Clock, journal: journal{ledger: d.Ledger}, refreshes: newRefreshes(), notifier: d.Notifier, aging: newAging()}, nil
}

// SetupWithManager registers the controller: it reconciles on spec changes
// (generation), on the reconcile-requested-at and sync-requested-by annotations,
// on a dependency turning Ready, on a Project's change, and on each
// Application's interval. Further sources (watch events on managed objects) may
// be given.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, concurrency int, sources ...ctrlsource.Source) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1.Application{}, dependsOnIndex, indexDependsOn); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1.Application{}, projectIndex, indexProject); err != nil {
		return err
	}
	r.ops = newOperations(ctx, r.reportOrphan)
	sources = append(sources, r.ops.source(), r.refreshes.source(), r.aging.source())
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

// Reconcile runs one pass for one Application. A status write that lost a race
// with another write (often the previous pass's own, not yet in the cache) is
// retried at once: status-only changes are not watched, so nothing else would
// bring the Application back.
//
// What the clock asks for (the next look at Git, a retry's backoff) waits
// behind what something asked for (a new or changed Application, a push, a
// drift, the end of a sync): with thousands of Applications and a short
// interval, the periodic passes of those already in sync would otherwise
// take turns with the first syncs of new ones, and a converge would take as
// long again. A periodic pass is not lost, only later while there is other
// work, and never more than agingGrace beyond its time (see aging).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.aging.began(req.NamespacedName)
	res, err := r.reconcile(ctx, req)
	switch {
	case errors.Is(err, errStatusConflict):
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond, Priority: ptr.To(0)}, nil
	case err != nil:
		return res, err
	case res.RequeueAfter >= clockedRequeue:
		res.Priority = ptr.To(handler.LowPriority)
		r.aging.deadline(req.NamespacedName, res.RequeueAfter)
	case res.RequeueAfter > 0:
		res.Priority = ptr.To(0) // look again at once: the Application changed meanwhile
	}
	return res, nil
}

// clockedRequeue is the shortest wait the clock, not a change, asks for.
const clockedRequeue = time.Second

var errStatusConflict = errors.New("the Application changed while its status was written")

// errSyncSlotsFull: a sync that waits on the cluster found every background
// slot (or its namespace's share) taken; it is tried again in syncSlotRetry.
var errSyncSlotsFull = errors.New("too many syncs wait on the cluster")

const syncSlotRetry = 5 * time.Second

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	app := &v1.Application{}
	if err := r.client.Get(ctx, req.NamespacedName, app); err != nil {
		if apierrors.IsNotFound(err) {
			r.superseded.forget(req.NamespacedName)
			r.refreshes.forget(req.NamespacedName)
			r.aging.forget(req.NamespacedName)
			forgetApplication(req.NamespacedName)
			if r.ops != nil {
				r.ops.forget(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.superseded.is(req.NamespacedName, app.ResourceVersion) {
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	defer observeReconcile(app, time.Now())
	p, again, err := r.pass(ctx, app)
	if p != nil {
		r.refreshes.saw(req.NamespacedName, p)
	}
	if errors.Is(err, errSyncSlotsFull) {
		return ctrl.Result{RequeueAfter: syncSlotRetry}, nil
	}
	if errors.Is(err, errHostBusy) {
		return ctrl.Result{RequeueAfter: hostBusyRetry}, nil
	}
	if err != nil {
		// The dependencies could not be read: the manual actions seen are
		// recorded; the status waits for a pass that knows.
		_, reportErr := r.report(ctx, &pass.Pass{Application: app, Gated: true}, &app.Status)
		return ctrl.Result{}, errors.Join(err, reportErr)
	}
	if p == nil {
		return ctrl.Result{}, nil // a sync runs in the background; its end queues the Application
	}
	// Records are written before the status: a record written and a status
	// lost is retried without a duplicate (see journal); the reverse would lose
	// the record.
	next := pass.Status(p)
	written, err := r.report(ctx, p, &next)
	if errors.Is(err, errLedgerUnavailable) {
		return r.ledgerUnavailable(ctx, app, err), nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	news := pass.Notices(p, &next, written) // before writeStatus sets app's status to next
	if err := r.writeStatus(ctx, app, next); err != nil {
		return ctrl.Result{}, err
	}
	// People are told once the status says it: a status write lost and
	// retried would otherwise tell them twice.
	r.notify(p.Application, news)
	attempt := r.failures.record(req.NamespacedName, p.Err != nil && p.Err.Transient && !p.Gated)
	if again {
		return ctrl.Result{RequeueAfter: 10 * time.Millisecond}, nil
	}
	return ctrl.Result{RequeueAfter: pass.RequeueAfter(p, &next, attempt)}, nil
}

// pass returns the pass to report: the one of a background sync that ended
// (again: the Application changed meanwhile, so look at it again at once), or
// a new one. It returns nil while a background sync runs, or when it started
// one.
func (r *Reconciler) pass(ctx context.Context, app *v1.Application) (p *pass.Pass, again bool, err error) {
	key := types.NamespacedName{Namespace: app.Namespace, Name: app.Name}
	if r.ops != nil {
		finished, running := r.ops.take(key, app.UID)
		switch {
		case running:
			return nil, false, nil
		case finished != nil:
			before := finished.Application
			changed := app.Generation != before.Generation || !maps.Equal(app.Annotations, before.Annotations)
			return finished, changed, nil
		}
	}
	p, err = r.run(ctx, app)
	if err != nil || p == nil || p.Err != nil || p.Decision != pass.Sync || p.Applied {
		return p, false, err
	}
	if err := r.ledgerReady(ctx); err != nil {
		p.Err = &pass.StageError{Reason: v1.ReasonLedgerUnavailable, Transient: true, Err: err}
		return p, false, nil
	}
	// Previewed, to be synced: a sync that waits on the cluster runs in the
	// background; when too many already do, it waits for a later pass (the
	// worker is not held).
	if r.ops != nil && p.Plan.Waits() {
		if !r.ops.start(key, p, r.syncInBackground) {
			return nil, false, errSyncSlotsFull
		}
		// Say so; a lost race here is harmless: the end of the sync reports.
		if err := r.writeStatus(ctx, app.DeepCopy(), pass.Syncing(p, r.now())); err != nil && !errors.Is(err, errStatusConflict) {
			log.FromContext(ctx).Info("could not mark the Application as syncing", "error", err.Error())
		}
		return nil, false, nil
	}
	_ = r.pipeline.Sync(ctx, p) // the failure is the pass's
	return p, false, nil
}

// ledgerReady refuses to apply while the ledger refuses records: nothing is
// applied that goes unrecorded. Records that waited and are written now are
// logged like any.
func (r *Reconciler) ledgerReady(ctx context.Context) error {
	written, err := r.journal.ready(ctx)
	for _, rec := range written {
		log.FromContext(ctx).Info("audit record", "seq", rec.Seq, "hash", rec.Hash, "record", rec)
	}
	return err
}

// ledgerRetry is how soon an Application whose records the ledger refused
// is looked at again.
const ledgerRetry = 10 * time.Second

// ledgerUnavailable says on the Application, and in a Warning Event, that
// the ledger refused its pass's records and nothing more is applied: its
// status is kept as it was otherwise (what the pass did is stated once it is
// recorded; the records wait in the controller).
func (r *Reconciler) ledgerUnavailable(ctx context.Context, app *v1.Application, err error) ctrl.Result {
	down := pass.LedgerUnavailable(app, err, r.now())
	if !equality.Semantic.DeepEqual(&app.Status, &down) {
		app.Status = down
		if werr := r.client.Status().Update(ctx, app); werr != nil && !apierrors.IsConflict(werr) {
			log.FromContext(ctx).Error(werr, "could not say the ledger is unavailable", "application", app.Namespace+"/"+app.Name)
		}
		r.events.Eventf(app, nil, corev1.EventTypeWarning, v1.ReasonLedgerUnavailable, "Record", "%s", pass.Truncate(err.Error(), 1024))
	}
	log.FromContext(ctx).Error(err, "the audit ledger refused records: nothing is applied until it takes them", "application", app.Namespace+"/"+app.Name)
	return ctrl.Result{RequeueAfter: ledgerRetry}
}

// reportOrphan records a background sync no pass will report (its
// Application was deleted, or the controller is stopping): its ledger
// records, with a deadline of their own.
func (r *Reconciler) reportOrphan(p *pass.Pass) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ops.base), 30*time.Second)
	defer cancel()
	next := pass.Status(p)
	written, err := r.report(ctx, p, &next)
	if err != nil {
		log.FromContext(ctx).Error(err, "recording a sync whose Application went away or whose controller stopped",
			"application", p.Application.Namespace+"/"+p.Application.Name)
	}
	r.notify(p.Application, pass.Notices(p, &next, written))
}

// WaitForSyncs returns when every background sync has ended and been
// recorded: call it after the manager stopped, before the ledger closes.
func (r *Reconciler) WaitForSyncs() {
	if r.ops != nil {
		r.ops.wait()
	}
}

// syncInBackground syncs a previewed pass within its sync timeout (which Sync
// counts from the preview's start).
func (r *Reconciler) syncInBackground(ctx context.Context, p *pass.Pass) {
	_ = r.pipeline.Sync(ctx, p) // the failure is the pass's
}

// run is one pass up to its sync: the gates (suspended, dependencies), then
// the pipeline's preview, within the Application's sync timeout. An error is
// one no pass can report.
func (r *Reconciler) run(ctx context.Context, app *v1.Application) (*pass.Pass, error) {
	now := r.now()
	gated := &pass.Pass{Application: app, Started: now, Finished: now, Gated: true}
	if app.Spec.Suspend {
		gated.Suspended = true
		return gated, nil
	}
	wait, err := r.dependencyWait(ctx, app)
	var cycle errDependencyCycle
	switch {
	case errors.As(err, &cycle):
		gated.Err = stageError(v1.ReasonInvalidSpec, false, err)
		return gated, nil
	case err != nil:
		return nil, err
	case wait != "":
		gated.Waiting = wait
		return gated, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.pipeline.SyncTimeout(app))
	defer cancel()
	p, _ := r.pipeline.Preview(ctx, app, PreviewOptions{}) // a failure is the pass's
	if p != nil && p.Err != nil && errors.Is(p.Err, source.ErrHostBusy) {
		return nil, errHostBusy
	}
	return p, nil
}

// errHostBusy: the Application's Git server did not answer its last fetch,
// and a fetch from such a server waits already; the pass is made again in
// hostBusyRetry, with nothing reported: it says nothing of this Application
// (see source.ErrHostBusy).
var errHostBusy = errors.New("the Git server waits on another fetch")

const hostBusyRetry = 5 * time.Second

// report writes the pass's ledger records, logs them, and emits and logs its
// Events.
func (r *Reconciler) report(ctx context.Context, p *pass.Pass, next *v1.ApplicationStatus) ([]audit.Record, error) {
	app := p.Application
	written, err := r.journal.write(ctx, app, pass.Records(p, next))
	if err != nil {
		return nil, err
	}
	logger := log.FromContext(ctx).WithValues("application", types.NamespacedName{Namespace: app.Namespace, Name: app.Name})
	for _, rec := range written {
		logger.Info("audit record", "seq", rec.Seq, "hash", rec.Hash, "record", rec)
	}
	for _, ev := range pass.Events(p, next, written) {
		if ev.Log != "" {
			logger.Info(ev.Log, "reason", ev.Reason, "revision", next.Sync.Revision, "message", ev.Note)
		}
		r.events.Eventf(app, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Note)
	}
	return written, nil
}

// notify hands a pass's news to the Notifications subscribed (in the
// background: a receiver that hangs never slows this).
func (r *Reconciler) notify(app *v1.Application, news []notify.Message) {
	if r.notifier != nil && len(news) > 0 {
		r.notifier.Notify(app, news)
	}
}

// writeStatus stores the status the pass leads to, unless it is what the
// Application already shows: doing nothing costs nothing.
func (r *Reconciler) writeStatus(ctx context.Context, app *v1.Application, next v1.ApplicationStatus) error {
	if equality.Semantic.DeepEqual(&app.Status, &next) {
		r.journal.statusStored(app)
		return nil
	}
	app.Status = next
	read := app.ResourceVersion
	if err := r.client.Status().Update(ctx, app); err != nil {
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
