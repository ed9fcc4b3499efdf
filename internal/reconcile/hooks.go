package reconcile

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// hookFailed ends a sync whose PreSync or PostSync hook failed: the SyncFailed
// hooks run, the history and the condition say which hook and why. A failed
// hook is not retried before the next interval or a change.
func (r *Reconciler) hookFailed(ctx context.Context, st *status, pv *Preview, started time.Time, trigger string, err error) outcome {
	st.recordSync(*pv.Commit, pv.Plan, apply.ChangeSet{}, started, err, trigger)
	r.runSyncFailedHooks(ctx, pv.applier, st.app, pv.Plan)
	return st.failed(v1.ReasonHookFailed, err, false)
}

const syncFailedHookTimeout = 2 * time.Minute

// runSyncFailedHooks runs the SyncFailed hooks; their own failure is logged, as
// the sync has failed already.
func (r *Reconciler) runSyncFailedHooks(ctx context.Context, a *apply.Applier, app *v1.Application, p plan.Plan) {
	hooks := p.HooksOf(plan.SyncFailed)
	if len(hooks) == 0 {
		return
	}
	// The sync's own deadline may be what failed it: the hooks get their own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncFailedHookTimeout)
	defer cancel()
	if err := a.RunHooks(ctx, hooks); err != nil {
		log.FromContext(ctx).Info("a SyncFailed hook failed", "application", app.Namespace+"/"+app.Name, "error", err.Error())
	}
}
