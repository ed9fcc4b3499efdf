package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// ErrNothingToSync is returned by Sync for a pass that cannot be synced: its
// preview failed, or its decision is not to sync.
var ErrNothingToSync = errors.New("the pass has no plan to sync")

// Sync applies the plan of a previewed pass, as the identity the preview
// chose: PreSync hooks, the apply wave by wave, prune, then (after health)
// PostSync hooks; SyncFailed hooks when something failed. It records what it
// did in p (Changes, Applied, Health, Err) and returns p.Err.
func (pl *Pipeline) Sync(ctx context.Context, p *pass.Pass) error {
	if p.Err != nil || p.Gated || p.Commit == nil || p.Decision != pass.Sync {
		return ErrNothingToSync
	}
	// The Project's cap holds whatever deadline the caller gave.
	ctx, cancel := context.WithDeadline(ctx, p.Started.Add(p.SyncTimeout()))
	defer cancel()
	err := pl.sync(ctx, p)
	p.Finished = pl.now()
	if err != nil {
		p.Err = asStageError(err)
		return p.Err
	}
	p.Applied = true
	p.Health, p.HealthSummary = pass.Health(p.Plan, p.Observed, p.Changes)
	return nil
}

func (pl *Pipeline) sync(ctx context.Context, p *pass.Pass) error {
	app, pln := p.Application, p.Plan
	// The identity is the Project's choice now, not whatever the pass says: a
	// pass is a value, and a caller could have changed it since the preview.
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return err
	}
	if now := pl.identity(app, rules); now != p.Identity {
		return stageError(v1.ReasonPolicyDenied, false, fmt.Errorf("the Project's identity for this Application is now %q, not %q as previewed; preview again", now, p.Identity))
	}
	applier, err := pl.applier.As(p.Identity)
	if err != nil {
		return stageError(v1.ReasonInvalidSpec, false, err)
	}
	// The namespace is created only when there is something to apply, so a
	// converged Application makes no request for it.
	if app.Spec.Sync.CreateNamespace && !pln.InSync() {
		if _, err := applier.EnsureNamespace(ctx, app.Spec.Destination.Namespace); err != nil {
			return stageError(v1.ReasonApplyFailed, true, fmt.Errorf("creating namespace %s: %w", app.Spec.Destination.Namespace, err))
		}
	}
	p.SyncStarted = pl.now()
	// Hooks run only when the sync applies something.
	hooks := !pln.InSync()
	if hooks {
		if err := applier.RunHooks(ctx, pln.HooksOf(plan.PreSync)); err != nil {
			pl.runSyncFailedHooks(ctx, applier, p)
			return stageError(v1.ReasonHookFailed, false, err)
		}
	}
	p.Changes, err = applier.Apply(ctx, pln, apply.Options{})
	if err != nil {
		if hooks {
			pl.runSyncFailedHooks(ctx, applier, p)
		}
		return stageError(v1.ReasonApplyFailed, isTransientAPIError(err), err)
	}
	if post := pln.HooksOf(plan.PostSync); hooks && len(post) > 0 {
		err := applier.WaitHealthy(ctx, pln, p.Changes)
		if err == nil {
			err = applier.RunHooks(ctx, post)
		}
		if err != nil {
			p.Applied = true // the objects were applied: they are ours to prune later
			pl.runSyncFailedHooks(ctx, applier, p)
			return stageError(v1.ReasonHookFailed, false, err)
		}
	}
	return nil
}

const syncFailedHookTimeout = 2 * time.Minute

// runSyncFailedHooks runs the SyncFailed hooks; their own failure is logged, as
// the sync has failed already.
func (pl *Pipeline) runSyncFailedHooks(ctx context.Context, a *apply.Applier, p *pass.Pass) {
	hooks := p.Plan.HooksOf(plan.SyncFailed)
	if len(hooks) == 0 || errors.Is(context.Cause(ctx), context.Canceled) {
		return // none, or the sync was stopped (shutdown, Application deleted), not failed
	}
	// The sync's own deadline may be what failed it: the hooks get their own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncFailedHookTimeout)
	defer cancel()
	if err := a.RunHooks(ctx, hooks); err != nil {
		app := p.Application
		pl.log.Info("a SyncFailed hook failed", "application", app.Namespace+"/"+app.Name, "error", err.Error())
	}
}
