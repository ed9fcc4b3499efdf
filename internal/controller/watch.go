package controller

import (
	"context"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// liveEvents routes watch events on managed objects to the Application that
// owns them, so drift is looked at within moments instead of at the next
// interval, and a change of an object's health is shown at once. Events about an
// object exactly as Lockstep left it, whose health did not change (its own
// writes, most status updates), are dropped here, before they cost a reconcile.
type liveEvents struct {
	applier *apply.Applier // set before the cache starts watching

	mu     sync.Mutex
	queue  workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]
	health map[object.Key]health.Status // last seen, to wake an Application when it changes
}

// source is the controller-runtime source that hands the controller's queue over.
func (l *liveEvents) source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]) error {
		l.mu.Lock()
		l.queue = q
		l.mu.Unlock()
		return nil
	})
}

func (l *liveEvents) handle(e kube.Event) {
	owner := object.Owner(e.Object)
	namespace, name, ok := strings.Cut(owner, "/")
	if !ok {
		return
	}
	key := object.KeyOf(e.Object)
	h := health.Missing
	if !e.Deleted {
		h = health.Of(e.Object).Status
	}
	l.mu.Lock()
	if l.health == nil {
		l.health = map[object.Key]health.Status{}
	}
	healthChanged := l.health[key] != h
	if e.Deleted {
		delete(l.health, key)
	} else {
		l.health[key] = h
	}
	q := l.queue
	l.mu.Unlock()
	if !e.Deleted && !healthChanged && l.applier != nil && l.applier.Unaffected(e.Object) {
		return
	}
	if q != nil {
		q.Add(ctrlreconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}})
	}
}
