package reconcile

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// refreshes carries push events to the controller's queue, in the process:
// a webhook refreshes Applications without writing to the API server, and
// the pass sees it sooner than a watch event would bring an annotation.
// It also remembers which folders each Application's last render read, so
// that a push that touched none of them refreshes nothing.
type refreshes struct {
	queue chan event.GenericEvent

	mu     sync.Mutex
	inputs map[types.NamespacedName][]string // guarded by mu
}

// refreshQueue is how many refreshed Applications may wait for the
// controller's queue to take them.
const refreshQueue = 4096

func newRefreshes() *refreshes {
	return &refreshes{queue: make(chan event.GenericEvent, refreshQueue), inputs: map[types.NamespacedName][]string{}}
}

func (f *refreshes) source() ctrlsource.Source {
	return ctrlsource.Channel(f.queue, &handler.EnqueueRequestForObject{})
}

// saw remembers what a pass's render read; a failed render forgets it (the
// files it could not read are what a fix will touch).
func (f *refreshes) saw(key types.NamespacedName, p *pass.Pass) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case p.Rendered != nil && p.Rendered.Inputs != nil:
		f.inputs[key] = p.Rendered.Inputs
	case p.Rendered != nil, p.Err != nil && p.Err.Reason == v1.ReasonRenderFailed:
		delete(f.inputs, key) // a render that did not say what it read: any push may concern it
	}
}

func (f *refreshes) forget(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.inputs, key)
}

// Inputs are the folders the Application's last render read, relative to the
// repository's root; false when no render since the controller started told.
func (r *Reconciler) Inputs(key types.NamespacedName) ([]string, bool) {
	r.refreshes.mu.Lock()
	defer r.refreshes.mu.Unlock()
	in, ok := r.refreshes.inputs[key]
	return in, ok
}

// Refresh looks at apps now, which follow the repository at url that
// changed at the given time (a push event): their next pass asks the Git
// server, once for all of them, whatever their interval. It waits while the
// controller's queue is full, until ctx ends.
func (r *Reconciler) Refresh(ctx context.Context, url string, at time.Time, apps []*v1.Application) error {
	r.pipeline.sources.Outdate(url, at)
	for _, app := range apps {
		select {
		case r.refreshes.queue <- event.GenericEvent{Object: app}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}
