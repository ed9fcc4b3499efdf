package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
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
		if err := a.deleteEarlierRuns(ctx, h, step); err != nil {
			return fmt.Errorf("%s hook: deleting the previous run: %w", h.Phase, err)
		}
	}
	if err := a.createHook(ctx, h, &step); err != nil {
		return fmt.Errorf("%s hook: creating it: %w", h.Phase, err)
	}
	for {
		live, err := a.getFromServer(ctx, gvk, step.Key)
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

// hookRunLabel marks every run of a generated hook (metadata.generateName) with
// the hook's identity, so BeforeHookCreation finds the earlier runs.
const hookRunLabel = "lockstep.dev/hook-run"

// hookRunID identifies a generated hook across runs: its owner, phase, kind,
// namespace and name prefix, hashed to fit a label value.
func hookRunID(h plan.Hook) string {
	sum := sha256.Sum256([]byte(object.Owner(h.Object) + "\x00" + string(h.Phase) + "\x00" + h.Key.String()))
	return hex.EncodeToString(sum[:16])
}

// createHook creates the hook's object: a named one by server-side apply, a
// generated one by a create that names it, whose name step.Key then carries.
func (a *Applier) createHook(ctx context.Context, h plan.Hook, step *plan.Step) error {
	if !h.Generated {
		_, err := a.serverSideApply(ctx, h.Object, false)
		return err
	}
	o := h.Object.DeepCopy()
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[hookRunLabel] = hookRunID(h)
	o.SetLabels(labels)
	c, err := a.client(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	created, err := c.Create(ctx, o, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	step.Key.Name = created.GetName()
	return nil
}

// deleteEarlierRuns deletes what an earlier run of the hook left, and waits
// until it is gone: the object of a named hook, every run of a generated one.
func (a *Applier) deleteEarlierRuns(ctx context.Context, h plan.Hook, step plan.Step) error {
	if !h.Generated {
		return a.deleteAndWait(ctx, step)
	}
	c, err := a.client(h.Object.GroupVersionKind(), h.Key.Namespace)
	if errors.Is(err, ErrUnknownKind) {
		return nil
	}
	if err != nil {
		return err
	}
	// The label is only a filter: anyone who may label a Job can copy it. A run
	// is deleted only when it is Lockstep's, owned by the hook's Application,
	// and named from the hook's prefix.
	runs, err := c.List(ctx, metav1.ListOptions{LabelSelector: object.TrackingSelector + "," + hookRunLabel + "=" + hookRunID(h)})
	if err != nil {
		return err
	}
	owner := object.Owner(h.Object)
	for _, run := range runs.Items {
		if object.Owner(&run) != owner || !strings.HasPrefix(run.GetName(), h.Object.GetGenerateName()) {
			continue
		}
		earlier := step
		earlier.Key.Name = run.GetName()
		if err := a.deleteAndWait(ctx, earlier); err != nil {
			return err
		}
	}
	return nil
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
