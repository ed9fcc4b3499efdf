package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// hookPoll is how often a running hook is looked at. Hooks are rare and short,
// so they are read from the server, not the cache: no lag to reason about.
const hookPoll = 250 * time.Millisecond

// RunHooks runs hooks one after the other: each is (re)created and waited for
// until it completes. The first failure stops the rest.
func (a *Applier) RunHooks(ctx context.Context, hooks []plan.Hook) error {
	for _, h := range hooks {
		if err := a.runHook(ctx, h); err != nil {
			return &ObjectError{Key: h.Key, Err: err}
		}
	}
	return nil
}

func (a *Applier) runHook(ctx context.Context, h plan.Hook) error {
	gvk := h.Object.GroupVersionKind()
	step := plan.Step{Key: h.Key, Version: gvk.Version}
	if h.Deletes(plan.BeforeHookCreation) {
		if err := a.deleteAndWait(ctx, step); err != nil {
			return fmt.Errorf("%s hook: deleting the previous run: %w", h.Phase, err)
		}
	}
	if _, err := a.serverSideApply(ctx, h.Object, false); err != nil {
		return fmt.Errorf("%s hook: creating it: %w", h.Phase, err)
	}
	for {
		live, err := a.getFromServer(ctx, gvk, h.Key)
		if err != nil {
			return fmt.Errorf("%s hook: reading it: %w", h.Phase, err)
		}
		done, failed, msg := health.Completion(live)
		if done {
			if (failed && h.Deletes(plan.HookFailed)) || (!failed && h.Deletes(plan.HookSucceeded)) {
				if err := a.delete(ctx, step); err != nil {
					return fmt.Errorf("%s hook: deleting it after it ran: %w", h.Phase, err)
				}
			}
			if failed {
				return fmt.Errorf("%s hook failed (%s); its pods' logs say why, and the fix goes to Git", h.Phase, strings.TrimPrefix(msg, "failed: "))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s hook did not finish before the sync timed out (%s)", h.Phase, msg)
		case <-time.After(hookPoll):
		}
	}
}

// deleteAndWait deletes an object and waits until the server no longer has it,
// so a hook of the same name can be created again.
func (a *Applier) deleteAndWait(ctx context.Context, step plan.Step) error {
	if err := a.delete(ctx, step); err != nil {
		return err
	}
	gvk := schema.GroupVersionKind{Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind}
	for {
		live, err := a.getFromServer(ctx, gvk, step.Key)
		if err != nil && !errors.Is(err, ErrUnknownKind) {
			return err
		}
		if live == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there when the sync timed out")
		case <-time.After(hookPoll):
		}
	}
}
