// Package kube keeps the live state of the objects Lockstep manages in memory,
// from watches: one informer per kind, started the first time the kind is asked
// for, listing only objects that carry Lockstep's tracking label (plan.Track),
// with the bulky parts of each object trimmed. A converged Application is then
// checked against memory instead of the API server, and a change someone makes
// to a managed object reaches the controller as an event within moments.
package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

// Event is a change to a watched object.
type Event struct {
	// Object is the object as it is now, or as it was last seen when Deleted.
	Object *unstructured.Unstructured
	// Deleted is true when the object is gone.
	Deleted bool
}

// Cache holds the live state of tracked objects, by kind.
type Cache struct {
	dynamic     dynamic.Interface
	onEvent     func(Event)
	syncTimeout time.Duration

	mu    sync.Mutex
	kinds map[schema.GroupVersionResource]*watch
	stop  chan struct{}
}

// watch is one kind's informer.
type watch struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
	synced   bool
	mu       sync.Mutex
	lastErr  error // the latest list or watch failure, for a clear error
}

// NewCache returns a cache reading through dyn. onEvent, when not nil, is called
// for every change to a watched object after the kind's first list; it must not
// block.
func NewCache(dyn dynamic.Interface, onEvent func(Event)) *Cache {
	return &Cache{dynamic: dyn, onEvent: onEvent, syncTimeout: 30 * time.Second,
		kinds: map[schema.GroupVersionResource]*watch{}, stop: make(chan struct{})}
}

// ErrNotWatchable is wrapped when a kind's informer cannot list or watch it.
var ErrNotWatchable = errors.New("cannot watch")

// Get returns the live object, or nil when no tracked object has that name. The
// first Get of a kind starts watching it and waits for the first list. The
// returned object is a copy.
func (c *Cache) Get(ctx context.Context, m *meta.RESTMapping, namespace, name string) (*unstructured.Unstructured, error) {
	w, err := c.watch(ctx, m.Resource)
	if err != nil {
		return nil, err
	}
	key := name
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		key = namespace + "/" + name
	}
	item, exists, err := w.informer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, err
	}
	return item.(*unstructured.Unstructured).DeepCopy(), nil
}

// Stop ends every watch.
func (c *Cache) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

// watch returns the kind's informer once it has listed, starting it when needed.
func (c *Cache) watch(ctx context.Context, gvr schema.GroupVersionResource) (*watch, error) {
	c.mu.Lock()
	w, ok := c.kinds[gvr]
	if !ok {
		w = c.start(gvr)
		c.kinds[gvr] = w
	}
	c.mu.Unlock()
	if w.isSynced() {
		return w, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	if cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		w.markSynced()
		return w, nil
	}
	// Forget the informer so that a later Get tries again (RBAC may be fixed).
	c.mu.Lock()
	if c.kinds[gvr] == w {
		delete(c.kinds, gvr)
		close(w.stop)
	}
	c.mu.Unlock()
	if err := w.err(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrNotWatchable, gvr.GroupResource(), err)
	}
	return nil, fmt.Errorf("%w %s: the first list did not finish: %w", ErrNotWatchable, gvr.GroupResource(), ctx.Err())
}

func (c *Cache) start(gvr schema.GroupVersionResource) *watch {
	w := &watch{stop: make(chan struct{})}
	w.informer = dynamicinformer.NewFilteredDynamicInformer(c.dynamic, gvr, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = plan.TrackingLabel + "=" + plan.TrackingLabelValue },
	).Informer()
	_ = w.informer.SetTransform(trim)
	_ = w.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { w.setErr(err) })
	if c.onEvent != nil {
		_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(o any, initialList bool) {
				if u, ok := o.(*unstructured.Unstructured); ok && !initialList {
					c.onEvent(Event{Object: u})
				}
			},
			UpdateFunc: func(_, o any) {
				if u, ok := o.(*unstructured.Unstructured); ok {
					c.onEvent(Event{Object: u})
				}
			},
			DeleteFunc: func(o any) {
				if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = d.Obj
				}
				if u, ok := o.(*unstructured.Unstructured); ok {
					c.onEvent(Event{Object: u, Deleted: true})
				}
			},
		})
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-c.stop:
		case <-w.stop:
		}
		close(stop)
	}()
	go w.informer.Run(stop)
	return w
}

func (w *watch) isSynced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

func (w *watch) markSynced() {
	w.mu.Lock()
	w.synced = true
	w.mu.Unlock()
}

func (w *watch) setErr(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

func (w *watch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}
