package reconcile

import (
	"context"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// liveEvents routes watch events on managed objects to the Application that
// owns them, so drift is looked at within moments instead of at the next
// interval. Events about an object exactly as Lockstep left it (its own
// writes, status-only updates) are dropped here, before they cost a reconcile.
type liveEvents struct {
	applier *apply.Applier // set before the cache starts watching

	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]
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
	owner := plan.Owner(e.Object)
	namespace, name, ok := strings.Cut(owner, "/")
	if !ok {
		return
	}
	if !e.Deleted && l.applier != nil && l.applier.Unaffected(e.Object) {
		return
	}
	l.mu.Lock()
	q := l.queue
	l.mu.Unlock()
	if q != nil {
		q.Add(ctrlreconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}})
	}
}
