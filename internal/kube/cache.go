// Package kube keeps the live state of the objects Lockstep manages in memory,
// from watches: one informer per kind, started the first time the kind is asked
// for, listing only objects that carry Lockstep's tracking label (object.Track),
// with the bulky parts of each object trimmed and the rest kept as JSON until
// read (stored). A converged Application is then checked against memory
// instead of the API server, and a change someone makes to a managed object
// reaches the controller as an event within moments.
package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-dev/lockstep/internal/object"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
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
	// perNamespace watches namespaced kinds one namespace at a time: an
	// impersonated identity is usually allowed to list only some namespaces.
	perNamespace bool

	mu         sync.Mutex
	kinds      map[watchKey]*watch
	identities map[string]*Cache // caches of impersonated identities, by user
	stop       chan struct{}
}

// watchKey is one informer's scope: a kind, and a namespace when the cache
// watches per namespace.
type watchKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

// watch is one kind's informer.
type watch struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
	denied   chan struct{} // closed when the API server refuses the list or watch
	synced   bool
	mu       sync.Mutex
	lastErr  error // the latest list or watch failure, for a clear error
}

// NewCache returns a cache reading through dyn. onEvent, when not nil, is called
// for every change to a watched object after the kind's first list; it must not
// block.
func NewCache(dyn dynamic.Interface, onEvent func(Event)) *Cache {
	return &Cache{dynamic: dyn, onEvent: onEvent, syncTimeout: 30 * time.Second,
		kinds: map[watchKey]*watch{}, identities: map[string]*Cache{}, stop: make(chan struct{})}
}

// As returns the cache of an impersonated identity, reading through dyn (a
// client that impersonates user). It watches namespaced kinds per namespace,
// hands its events to the same handler, and stops with c. The same user gets
// the same cache.
func (c *Cache) As(user string, dyn dynamic.Interface) *Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if child, ok := c.identities[user]; ok {
		return child
	}
	child := NewCache(dyn, c.onEvent)
	child.syncTimeout, child.perNamespace, child.stop = c.syncTimeout, true, c.stop
	c.identities[user] = child
	return child
}

// ErrNotWatchable is wrapped when a kind's informer cannot list or watch it.
var ErrNotWatchable = errors.New("cannot watch")

// Get returns the live object, or nil when no tracked object has that name. The
// first Get of a kind starts watching it and waits for the first list. The
// returned object is a copy, the caller's to change.
func (c *Cache) Get(ctx context.Context, m *meta.RESTMapping, namespace, name string) (*unstructured.Unstructured, error) {
	w, key, err := c.lookup(ctx, m, namespace, name)
	if err != nil {
		return nil, err
	}
	item, exists, err := w.informer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, err
	}
	s, ok := item.(*stored)
	if !ok {
		return nil, fmt.Errorf("%s %s: the watch cache holds a %T", m.Resource.GroupResource(), key, item)
	}
	return s.decode()
}

// Has reports whether a tracked object has that name, as Get would, without
// decoding it.
func (c *Cache) Has(ctx context.Context, m *meta.RESTMapping, namespace, name string) (bool, error) {
	w, key, err := c.lookup(ctx, m, namespace, name)
	if err != nil {
		return false, err
	}
	_, exists, err := w.informer.GetIndexer().GetByKey(key)
	return exists, err
}

// lookup returns the informer that holds an object, once it has listed, and
// the object's key in it.
func (c *Cache) lookup(ctx context.Context, m *meta.RESTMapping, namespace, name string) (*watch, string, error) {
	wk := watchKey{gvr: m.Resource}
	key := name
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		key = namespace + "/" + name
		if c.perNamespace {
			wk.namespace = namespace
		}
	}
	w, err := c.watch(ctx, wk)
	return w, key, err
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

// watch returns the informer of a kind (in a namespace) once it has listed,
// starting it when needed. A list the API server refuses fails at once.
func (c *Cache) watch(ctx context.Context, wk watchKey) (*watch, error) {
	c.mu.Lock()
	w, ok := c.kinds[wk]
	if !ok {
		w = c.start(wk)
		c.kinds[wk] = w
	}
	c.mu.Unlock()
	if w.isSynced() {
		return w, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	go func() {
		select {
		case <-w.denied:
			cancel()
		case <-ctx.Done():
		}
	}()
	if cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		w.markSynced()
		return w, nil
	}
	// Forget the informer so that a later Get tries again (RBAC may be fixed).
	c.mu.Lock()
	if c.kinds[wk] == w {
		delete(c.kinds, wk)
		close(w.stop)
	}
	c.mu.Unlock()
	if err := w.err(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrNotWatchable, wk.gvr.GroupResource(), err)
	}
	return nil, fmt.Errorf("%w %s: the first list did not finish: %w", ErrNotWatchable, wk.gvr.GroupResource(), ctx.Err())
}

func (c *Cache) start(wk watchKey) *watch {
	w := &watch{stop: make(chan struct{}), denied: make(chan struct{})}
	namespace := metav1.NamespaceAll
	if wk.namespace != "" {
		namespace = wk.namespace
	}
	w.informer = dynamicinformer.NewFilteredDynamicInformer(c.dynamic, wk.gvr, namespace, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = object.TrackingSelector },
	).Informer()
	_ = w.informer.SetTransform(compact(trim))
	_ = w.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { w.setErr(err) })
	if c.onEvent != nil {
		// An object that does not decode is skipped: it cannot happen for the
		// JSON compact wrote, and one lost event is better than a stopped watch.
		_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(o any, initialList bool) {
				if initialList {
					return
				}
				if u, ok := decoded(o); ok {
					c.onEvent(Event{Object: u})
				}
			},
			UpdateFunc: func(_, o any) {
				if u, ok := decoded(o); ok {
					c.onEvent(Event{Object: u})
				}
			},
			DeleteFunc: func(o any) {
				if u, ok := decoded(o); ok {
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
	defer w.mu.Unlock()
	w.lastErr = err
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		select {
		case <-w.denied:
		default:
			close(w.denied) // retrying will not help until RBAC changes
		}
	}
}

func (w *watch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}
