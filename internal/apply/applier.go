// Package apply carries out a plan against the API server with server-side apply:
// it observes the live state a plan needs (current objects and a server-side dry
// run of each desired object), applies steps in order, waits for new CRDs to be
// established before their custom resources, and prunes. It returns what it did
// as a ChangeSet and never logs: the caller reports.
//
// Requests about different objects run concurrently, a bounded number at a
// time: every object is observed on its own, and the steps of one wave and
// kind rank, which do not need each other, are applied (or pruned) together,
// rank after rank. Results are merged in plan order, so what Observe and Apply
// return does not depend on which request finished first.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// FieldManager is the name server-side apply records for Lockstep's fields.
const FieldManager = "lockstep"

// Applier talks to one cluster as one identity; As derives the Applier of
// another identity.
type Applier struct {
	clients  *kube.Clients
	live     *kube.Cache // nil: read live objects with GETs
	verified *verified   // shared by every identity's Applier

	mu         sync.Mutex          // guards identities
	identities map[string]*Applier // by impersonated user
}

// Option configures an Applier.
type Option func(*Applier)

// WithLiveCache reads live objects from a watch cache instead of the API server,
// and skips the dry run of objects whose manifest and live state are what an
// earlier apply or dry run left them as.
func WithLiveCache(c *kube.Cache) Option { return func(a *Applier) { a.live = c } }

// New returns an Applier that acts through clients.
func New(clients *kube.Clients, opts ...Option) *Applier {
	a := &Applier{clients: clients, verified: &verified{}, identities: map[string]*Applier{}}
	for _, o := range opts {
		o(a)
	}
	return a
}

// As returns the Applier that acts as user through impersonation (for a
// service account, system:serviceaccount:NAMESPACE:NAME): every read, dry
// run, apply, prune and hook is that user's, so Kubernetes RBAC decides what
// it may touch, and a refusal names the permission missing. It shares
// discovery and the memory of verified objects with a; its live cache watches
// per namespace, as the user is allowed to. An empty user is a itself.
func (a *Applier) As(user string) (*Applier, error) {
	if user == "" {
		return a, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.identities[user]; ok {
		return d, nil
	}
	clients, err := a.clients.As(user)
	if err != nil {
		return nil, err
	}
	d := &Applier{clients: clients, verified: a.verified, identities: map[string]*Applier{}}
	if a.live != nil {
		d.live = a.live.As(user, clients.Dynamic)
	}
	a.identities[user] = d
	return d, nil
}

// Unaffected reports whether a watch event about o can be ignored: o is exactly
// what Lockstep last applied or verified, so nothing about it needs a look.
func (a *Applier) Unaffected(o *unstructured.Unstructured) bool {
	return a.verified.knownLive(object.KeyOf(o), o)
}

// ObjectError is a failure about one object.
type ObjectError struct {
	Key object.Key
	Err error
}

func (e *ObjectError) Error() string { return e.Key.String() + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// ErrUnknownKind is wrapped when the cluster serves no such kind and no CRD in the
// same sync defines it.
var ErrUnknownKind = errors.New("the cluster has no such kind")

// resource finds the REST resource of a kind, asking discovery again once when the
// kind is unknown (a CRD may have just been established).
func (a *Applier) resource(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := a.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.clients.Mapper.Reset()
		m, err = a.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("%w: %s (install its CustomResourceDefinition first, or add it to the same folder)", ErrUnknownKind, gvk)
	}
	return m, err
}

// Read returns an object straight from the API server (no watch), as this
// Applier's identity: for data an Application names, such as Helm values, that
// its service account, not the controller, must be allowed to see.
func (a *Applier) Read(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	c, err := a.client(gvk, namespace)
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, name, metav1.GetOptions{})
}

// client returns the dynamic client for an object's resource and namespace.
func (a *Applier) client(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := a.resource(gvk)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.clients.Dynamic.Resource(m.Resource).Namespace(namespace), nil
	}
	return a.clients.Dynamic.Resource(m.Resource), nil
}

// get returns the live object, or nil when it does not exist. With a watch
// cache, it reads the cache, and asks the server only when the cache lacks an
// object Lockstep applied (just created, or deleted: the server says which).
func (a *Applier) get(ctx context.Context, gvk schema.GroupVersionKind, k object.Key) (*unstructured.Unstructured, error) {
	if a.live != nil {
		m, err := a.resource(gvk)
		if err != nil {
			return nil, err
		}
		live, err := a.live.Get(ctx, m, k.Namespace, k.Name)
		switch {
		case errors.Is(err, kube.ErrNotWatchable):
			// Read it directly: slower, but the sync goes on while watching is denied.
		case err != nil || live != nil || !a.verified.has(k):
			return live, err
		}
	}
	return a.getFromServer(ctx, gvk, k)
}

// lookUp reads an object the watch cache cannot see (one Lockstep does not
// track) from the API server with the lookups client, nil when it does not
// exist.
func (a *Applier) lookUp(ctx context.Context, gvk schema.GroupVersionKind, k object.Key) (*unstructured.Unstructured, error) {
	m, err := a.resource(gvk)
	if err != nil {
		return nil, err
	}
	var c dynamic.ResourceInterface = a.clients.Lookups.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		c = a.clients.Lookups.Resource(m.Resource).Namespace(k.Namespace)
	}
	live, err := c.Get(ctx, k.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return live, err
}

// getFromServer reads the object from the API server, nil when it does not exist.
func (a *Applier) getFromServer(ctx context.Context, gvk schema.GroupVersionKind, k object.Key) (*unstructured.Unstructured, error) {
	c, err := a.client(gvk, k.Namespace)
	if err != nil {
		return nil, err
	}
	live, err := c.Get(ctx, k.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return live, err
}
