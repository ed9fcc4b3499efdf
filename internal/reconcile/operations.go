package reconcile

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/lockstep-dev/lockstep/internal/pass"
)

// maxWaitingSyncs bounds the syncs that run in the background at once.
const maxWaitingSyncs = 64

// operations run the syncs that wait on the cluster (hooks, waves, new CRDs;
// see plan.Plan.Waits) outside the workers: a PreSync hook that never ends
// holds its own goroutine until the sync timeout, never a worker another
// Application needs. When one ends, its Application is queued again and the
// next pass reports it.
type operations struct {
	base context.Context // the controller's lifetime
	done chan event.GenericEvent
	sem  chan struct{}

	mu      sync.Mutex
	running map[types.NamespacedName]*operation
}

type operation struct {
	pass     *pass.Pass
	cancel   context.CancelFunc
	finished bool // guarded by operations.mu
}

func newOperations(base context.Context) *operations {
	return &operations{base: base, done: make(chan event.GenericEvent, maxWaitingSyncs),
		sem: make(chan struct{}, maxWaitingSyncs), running: map[types.NamespacedName]*operation{}}
}

// source queues an Application whose sync ended.
func (o *operations) source() ctrlsource.Source {
	return ctrlsource.Channel(o.done, &handler.EnqueueRequestForObject{})
}

// start runs sync(ctx, p) in the background, unless maxWaitingSyncs are
// running already (then it returns false: try again later).
func (o *operations) start(key types.NamespacedName, p *pass.Pass, sync func(context.Context, *pass.Pass)) bool {
	select {
	case o.sem <- struct{}{}:
	default:
		return false
	}
	ctx, cancel := context.WithCancel(o.base)
	op := &operation{pass: p, cancel: cancel}
	o.mu.Lock()
	o.running[key] = op
	o.mu.Unlock()
	go func() {
		defer func() { <-o.sem }()
		defer cancel()
		sync(ctx, p)
		o.mu.Lock()
		op.finished = true
		o.mu.Unlock()
		select {
		case o.done <- event.GenericEvent{Object: p.Application}:
		case <-o.base.Done():
		}
	}()
	return true
}

// take returns the pass of the Application's finished sync (and forgets it),
// or running when one is still in progress.
func (o *operations) take(key types.NamespacedName) (finished *pass.Pass, running bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op, ok := o.running[key]
	switch {
	case !ok:
		return nil, false
	case !op.finished:
		return nil, true
	}
	delete(o.running, key)
	return op.pass, false
}

// forget drops what is known of a deleted Application and stops its sync.
func (o *operations) forget(key types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if op, ok := o.running[key]; ok {
		op.cancel()
		delete(o.running, key)
	}
}
