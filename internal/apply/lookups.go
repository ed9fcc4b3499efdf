package apply

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// listLookupsFrom is how many desired objects of one resource and namespace
// must be missing from the watch cache before Observe lists the names there
// instead of asking for each: an Application of 10,000 ConfigMaps, new, is
// 20 pages of names instead of 10,000 GETs. Fewer are cheaper one by one.
const listLookupsFrom = 64

var errTooManyToList = errors.New("more objects than worth listing")

// lookupScope is a resource in a namespace ("" for cluster-scoped ones).
type lookupScope struct {
	resource  schema.GroupVersionResource
	namespace string
}

// existingNames lists, names only, what exists in each resource and
// namespace where at least listLookupsFrom desired objects are missing from
// the watch cache. An object missing from a scope listed here does not exist
// (as of the list: as of a GET, it would be as old by the time it is
// applied); the objects of a scope not listed (too few, or the list was
// refused) are looked up one by one.
func (a *Applier) existingNames(ctx context.Context, desired []*unstructured.Unstructured) map[lookupScope]map[string]bool {
	if a.live == nil {
		return nil
	}
	misses := map[lookupScope]int{}
	for _, o := range desired {
		if o.GetName() == "" {
			continue
		}
		m, err := a.resource(o.GroupVersionKind())
		if err != nil {
			continue
		}
		if has, err := a.live.Has(ctx, m, o.GetNamespace(), o.GetName()); err == nil && !has {
			misses[scopeOf(m, o.GetNamespace())]++
		}
	}
	var found map[lookupScope]map[string]bool
	for s, n := range misses {
		if n < listLookupsFrom {
			continue
		}
		names, err := a.listNames(ctx, s, max(4, n/100))
		if err != nil {
			continue // not allowed to list, or too much to list: each is looked up alone
		}
		if found == nil {
			found = map[lookupScope]map[string]bool{}
		}
		found[s] = names
	}
	return found
}

func scopeOf(m *meta.RESTMapping, namespace string) lookupScope {
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	return lookupScope{resource: m.Resource, namespace: namespace}
}

// listNames lists the names of a scope's objects, in pages of 500, at most
// maxPages of them: a namespace of far more objects than are looked for is
// cheaper asked about one by one.
func (a *Applier) listNames(ctx context.Context, s lookupScope, maxPages int) (map[string]bool, error) {
	names := map[string]bool{}
	opts := metav1.ListOptions{Limit: 500}
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, errTooManyToList
		}
		list, err := a.clients.LookupsMetadata.Resource(s.resource).Namespace(s.namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			names[item.Name] = true
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return names, nil
		}
	}
}

// listedAbsent reports whether o's scope was listed and o was not in it.
func (a *Applier) listedAbsent(o *unstructured.Unstructured, existing map[lookupScope]map[string]bool) bool {
	if existing == nil {
		return false
	}
	m, err := a.resource(o.GroupVersionKind())
	if err != nil {
		return false
	}
	names, listed := existing[scopeOf(m, o.GetNamespace())]
	return listed && !names[o.GetName()]
}
