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

const (
	// maxWaitingSyncs bounds the syncs that run in the background at once.
	maxWaitingSyncs = 64
	// maxWaitingSyncsPerNamespace bounds one namespace's share of them, so
	// one team's hooks that never end cannot take every slot.
	maxWaitingSyncsPerNamespace = maxWaitingSyncs / 4
)

// operations run the syncs that wait on the cluster (hooks, waves, new CRDs;
// see plan.Plan.Waits) outside the workers: a PreSync hook that never ends
// holds its own goroutine until the sync timeout, never a worker another
// Application needs. When one ends, its Application is queued again and the
// next pass reports it. A sync whose Application was deleted, or that a
// shutdown cut short, is reported by orphaned (its ledger records), so no
// sync goes unrecorded.
type operations struct {
	base     context.Context // the controller's lifetime
	done     chan event.GenericEvent
	orphaned func(*pass.Pass) // reports a sync no pass will take
	wg       sync.WaitGroup

	mu          sync.Mutex
	running     map[types.NamespacedName]*operation
	inNamespace map[string]int
	closed      bool // wait was called: no more syncs start
}

type operation struct {
	pass     *pass.Pass
	cancel   context.CancelFunc
	finished bool // guarded by operations.mu
	orphan   bool // guarded by operations.mu: nobody will take it
}

func newOperations(base context.Context, orphaned func(*pass.Pass)) *operations {
	return &operations{base: base, done: make(chan event.GenericEvent, maxWaitingSyncs), orphaned: orphaned,
		running: map[types.NamespacedName]*operation{}, inNamespace: map[string]int{}}
}

// source queues an Application whose sync ended.
func (o *operations) source() ctrlsource.Source {
	return ctrlsource.Channel(o.done, &handler.EnqueueRequestForObject{})
}

// start runs sync(ctx, p) in the background, unless maxWaitingSyncs are
// running, or the namespace's share (then it returns false: try again later).
func (o *operations) start(key types.NamespacedName, p *pass.Pass, sync func(context.Context, *pass.Pass)) bool {
	o.mu.Lock()
	// One sync per Application at a time: an earlier one of a deleted
	// Application of the same name must end (and be recorded) first.
	if _, busy := o.running[key]; busy || o.closed || len(o.running) >= maxWaitingSyncs || o.inNamespace[key.Namespace] >= maxWaitingSyncsPerNamespace {
		o.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancel(o.base)
	op := &operation{pass: p, cancel: cancel}
	o.running[key] = op
	o.inNamespace[key.Namespace]++
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		defer cancel()
		sync(ctx, p)
		o.mu.Lock()
		op.finished = true
		orphan := op.orphan || o.base.Err() != nil
		if orphan {
			o.remove(key, op)
		}
		o.mu.Unlock()
		if orphan {
			o.orphaned(p)
			return
		}
		select {
		case o.done <- event.GenericEvent{Object: p.Application}:
		case <-o.base.Done():
		}
	}()
	return true
}

// remove forgets op. Called with o.mu held.
func (o *operations) remove(key types.NamespacedName, op *operation) {
	if o.running[key] != op {
		return
	}
	delete(o.running, key)
	if o.inNamespace[key.Namespace]--; o.inNamespace[key.Namespace] <= 0 {
		delete(o.inNamespace, key.Namespace)
	}
}

// take returns the pass of the Application's finished sync (and forgets it),
// or running when one is still in progress. uid is the Application's now: a
// sync of an earlier Application of the same name is not its to report.
func (o *operations) take(key types.NamespacedName, uid types.UID) (finished *pass.Pass, running bool) {
	o.mu.Lock()
	op, ok := o.running[key]
	switch {
	case !ok:
		o.mu.Unlock()
		return nil, false
	case op.pass.Application.UID != uid:
		o.mu.Unlock()
		o.forget(key)
		return nil, false
	case !op.finished:
		o.mu.Unlock()
		return nil, true
	}
	o.remove(key, op)
	o.mu.Unlock()
	return op.pass, false
}

// forget stops the sync of a deleted Application; it is reported as an
// orphan when it ends (a finished one at once).
func (o *operations) forget(key types.NamespacedName) {
	o.mu.Lock()
	op, ok := o.running[key]
	if !ok {
		o.mu.Unlock()
		return
	}
	op.cancel()
	if !op.finished {
		op.orphan = true
		o.mu.Unlock()
		return
	}
	o.remove(key, op)
	o.mu.Unlock()
	o.orphaned(op.pass)
}

// wait returns when every background sync has ended and been reported (its
// context, the controller's run, must be over): those no pass took are
// recorded as orphans.
func (o *operations) wait() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.wg.Wait()
	o.mu.Lock()
	var left []*pass.Pass
	for key, op := range o.running {
		if op.finished {
			left = append(left, op.pass)
			o.remove(key, op)
		}
	}
	o.mu.Unlock()
	for _, p := range left {
		o.orphaned(p)
	}
}
