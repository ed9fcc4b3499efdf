package apply

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// healthPoll is how often a wave's health is looked at; with a watch cache each
// look costs no request.
const healthPoll = 250 * time.Millisecond

// waitHealthy waits until every object of a wave is Healthy (or deliberately
// Suspended). A Degraded object fails at once; the sync's deadline bounds the
// wait. applied holds what the server returned for objects of this sync: the
// cache may not have caught up with them yet, and an older copy could look
// healthy for the spec it had before.
func (a *Applier) waitHealthy(ctx context.Context, wave []plan.Step, applied map[object.Key]*unstructured.Unstructured) *ObjectError {
	for {
		key, res, err := a.firstUnhealthy(ctx, wave, applied)
		if err != nil {
			return &ObjectError{Key: key, Err: err}
		}
		if key == (object.Key{}) {
			return nil
		}
		if res.Status == health.Degraded {
			return &ObjectError{Key: key, Err: fmt.Errorf("sync wave %d is Degraded, so later waves were not applied: %s", wave[0].Wave, res.Message)}
		}
		select {
		case <-ctx.Done():
			return &ObjectError{Key: key, Err: fmt.Errorf("sync wave %d still %s when the sync timed out, so later waves were not applied: %s", wave[0].Wave, res.Status, res.Message)}
		case <-time.After(healthPoll):
		}
	}
}

// firstUnhealthy returns the first object of the wave that is not yet Healthy or
// Suspended, and its health; a zero key when there is none.
func (a *Applier) firstUnhealthy(ctx context.Context, wave []plan.Step, applied map[object.Key]*unstructured.Unstructured) (object.Key, health.Result, error) {
	for _, s := range wave {
		live, err := a.get(ctx, s.Desired.GroupVersionKind(), s.Key)
		if err != nil {
			return s.Key, health.Result{}, fmt.Errorf("reading its health: %w", err)
		}
		res := health.Of(live)
		if sent, ok := applied[s.Key]; ok && live != nil && live.GetGeneration() < sent.GetGeneration() {
			res = health.Result{Status: health.Progressing, Message: "waiting for the watch to see the applied generation"}
		}
		if res.Status != health.Healthy && res.Status != health.Suspended {
			return s.Key, res, nil
		}
	}
	return object.Key{}, health.Result{}, nil
}

// WaitHealthy waits until every object the plan applies or keeps unchanged is
// Healthy: PostSync hooks run only then.
func (a *Applier) WaitHealthy(ctx context.Context, p plan.Plan, cs ChangeSet) error {
	var all []plan.Step
	for _, w := range p.Waves() {
		all = append(all, w...)
	}
	if len(all) == 0 {
		return nil
	}
	if err := a.waitHealthy(ctx, all, cs.Live); err != nil {
		return err // not returned directly: a nil *ObjectError is not a nil error
	}
	return nil
}
