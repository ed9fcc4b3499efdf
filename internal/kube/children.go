package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// ChildKinds are the kinds whose objects the resource tree shows under the
// objects that own them: ReplicaSets of Deployments, Pods of ReplicaSets,
// StatefulSets, DaemonSets and Jobs, Jobs of CronJobs.
var ChildKinds = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "", Version: "v1", Resource: "pods"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
}

// ownerIndex indexes children by their owners: "group/Kind/namespace/name".
const ownerIndex = "owner"

// Children watches the objects that Lockstep does not apply but that belong
// to what it applied (ChildKinds), one namespace at a time: a namespace is
// watched from the first time its children are asked for, so memory grows
// with the namespaces Applications deploy to, not with the cluster. Objects
// are trimmed to what the tree and health read, and kept as JSON (stored).
type Children struct {
	dynamic     dynamic.Interface
	syncTimeout time.Duration

	mu         sync.Mutex
	namespaces map[string]*childWatch // guarded by mu
	stop       chan struct{}
}

type childWatch struct {
	informers []cache.SharedIndexInformer
	ready     chan struct{} // closed once every informer has listed
	err       error         // set before ready closes when a list failed
}

// NewChildren returns a Children reading through dyn.
func NewChildren(dyn dynamic.Interface) *Children {
	return &Children{dynamic: dyn, syncTimeout: 30 * time.Second, namespaces: map[string]*childWatch{}, stop: make(chan struct{})}
}

// Stop ends every watch.
func (c *Children) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

// OwnerKey names an owner in the index.
func OwnerKey(group, kind, namespace, name string) string {
	return group + "/" + kind + "/" + namespace + "/" + name
}

// Of returns the objects that the owner (group, kind, name in namespace)
// owns directly, from memory; the first call for a namespace starts its
// watches and waits for their first list. The objects are fresh copies,
// decoded from memory.
func (c *Children) Of(ctx context.Context, group, kind, namespace, name string) ([]*unstructured.Unstructured, error) {
	w, err := c.watch(ctx, namespace)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, inf := range w.informers {
		items, err := inf.GetIndexer().ByIndex(ownerIndex, OwnerKey(group, kind, namespace, name))
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			s, ok := it.(*stored)
			if !ok {
				continue
			}
			u, err := s.decode()
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	return out, nil
}

func (c *Children) watch(ctx context.Context, namespace string) (*childWatch, error) {
	c.mu.Lock()
	w, ok := c.namespaces[namespace]
	if !ok {
		w = c.start(namespace)
		c.namespaces[namespace] = w
	}
	c.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.err != nil {
		c.mu.Lock()
		if c.namespaces[namespace] == w {
			delete(c.namespaces, namespace) // try again next time: RBAC may be fixed
		}
		c.mu.Unlock()
		return nil, w.err
	}
	return w, nil
}

func (c *Children) start(namespace string) *childWatch {
	w := &childWatch{ready: make(chan struct{})}
	stop := make(chan struct{})
	for _, gvr := range ChildKinds {
		inf := dynamicinformer.NewFilteredDynamicInformer(c.dynamic, gvr, namespace, 0,
			cache.Indexers{ownerIndex: byOwner}, nil).Informer()
		_ = inf.SetTransform(compact(trimChild))
		w.informers = append(w.informers, inf)
		go inf.Run(stop)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.syncTimeout)
		defer cancel()
		go func() {
			select {
			case <-c.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		synced := make([]cache.InformerSynced, len(w.informers))
		for i, inf := range w.informers {
			synced[i] = inf.HasSynced
		}
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			w.err = fmt.Errorf("%w the Pods, ReplicaSets and Jobs of namespace %s: the first list did not finish: %w", ErrNotWatchable, namespace, ctx.Err())
			close(stop)
		} else {
			go func() { <-c.stop; close(stop) }()
		}
		close(w.ready)
	}()
	return w
}

// byOwner indexes an object under each of its owners. It reads only
// metadata a stored keeps.
func byOwner(o any) ([]string, error) {
	u, ok := o.(metav1.Object)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, ref := range u.GetOwnerReferences() {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			continue
		}
		keys = append(keys, OwnerKey(gv.Group, ref.Kind, u.GetNamespace(), ref.Name))
	}
	return keys, nil
}

// trimChild keeps what the tree, health and logs read: metadata without
// managed fields or annotations, the status, and of the spec only what
// health needs (replica counts, completions) and a Pod's node and
// container names.
func trimChild(o any) (any, error) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return o, nil
	}
	u.SetManagedFields(nil)
	u.SetAnnotations(nil)
	spec, _ := u.Object["spec"].(map[string]any)
	if spec == nil {
		return u, nil
	}
	slim := map[string]any{}
	for _, k := range []string{"replicas", "completions", "parallelism", "backoffLimit", "suspend", "nodeName", "minReadySeconds"} {
		if v, ok := spec[k]; ok {
			slim[k] = v
		}
	}
	for _, k := range []string{"containers", "initContainers"} {
		if cs, ok := spec[k].([]any); ok {
			var names []any
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok {
					names = append(names, map[string]any{"name": m["name"], "image": m["image"]})
				}
			}
			slim[k] = names
		}
	}
	u.Object["spec"] = slim
	return u, nil
}
