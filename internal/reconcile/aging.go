package reconcile

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// aging keeps the clock's work from waiting for ever. A requeue the clock
// asks for goes back at low priority (see Reconcile); while work something
// asked for keeps coming (Applications that drift all the time, a busy
// webhook), it could be put off without end. So each such requeue is armed
// with a deadline, its wait plus agingGrace: if the Application has not been
// looked at by then, it is queued again at the ordinary priority.
type aging struct {
	mu    sync.Mutex
	apps  map[types.NamespacedName]*aged
	queue chan event.GenericEvent
}

type aged struct {
	passes   uint64      // passes begun
	deadline *time.Timer // one per Application: a new requeue replaces it
}

// agingGrace is how late, at most, a pass the clock asked for runs while
// other work keeps the workers busy: long enough for the first syncs of
// thousands of new Applications to go first.
const agingGrace = 2 * time.Minute

func newAging() *aging {
	return &aging{apps: map[types.NamespacedName]*aged{}, queue: make(chan event.GenericEvent, refreshQueue)}
}

func (a *aging) source() ctrlsource.Source {
	return ctrlsource.Channel(a.queue, &handler.EnqueueRequestForObject{})
}

// began counts a pass of key.
func (a *aging) began(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	app := a.apps[key]
	if app == nil {
		app = &aged{}
		a.apps[key] = app
	}
	app.passes++
}

// deadline queues key at the ordinary priority after wait plus agingGrace,
// unless a pass of it began meanwhile.
func (a *aging) deadline(key types.NamespacedName, wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	app := a.apps[key]
	if app == nil {
		return // forgotten: the Application is gone
	}
	if app.deadline != nil {
		app.deadline.Stop()
	}
	armed := app.passes
	app.deadline = time.AfterFunc(wait+agingGrace, func() {
		a.mu.Lock()
		late := a.apps[key] == app && app.passes == armed
		a.mu.Unlock()
		if late {
			a.queue <- event.GenericEvent{Object: &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}
		}
	})
}

func (a *aging) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if app := a.apps[key]; app != nil && app.deadline != nil {
		app.deadline.Stop()
	}
	delete(a.apps, key)
}
