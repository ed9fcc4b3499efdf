package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// Normalize gives namespaced objects that name no namespace the destination
// namespace, and drops the namespace of cluster-scoped ones. Kinds the cluster
// does not serve yet are scoped by a CustomResourceDefinition among objs.
func (a *Applier) Normalize(objs []*unstructured.Unstructured, namespace string) error {
	crdScopes := map[schema.GroupKind]string{}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == crdGroupKind {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			crdScopes[schema.GroupKind{Group: group, Kind: kind}] = scope
		}
	}
	var errs []error
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		namespaced := false
		if m, err := a.resource(gvk); err == nil {
			namespaced = m.Scope.Name() == meta.RESTScopeNameNamespace
		} else if scope, ok := crdScopes[gvk.GroupKind()]; ok {
			namespaced = scope == "Namespaced"
		} else {
			errs = append(errs, &ObjectError{Key: object.KeyOf(o), Err: err})
			continue
		}
		switch {
		case namespaced && o.GetNamespace() == "":
			o.SetNamespace(namespace)
		case !namespaced:
			o.SetNamespace("")
		}
	}
	return errors.Join(errs...)
}

var crdGroupKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// Observation is the live state a plan is computed from.
type Observation struct {
	// Current objects by key; nil for objects that do not exist.
	Current map[object.Key]*unstructured.Unstructured
	// DryRun holds, for desired objects that exist, what a server-side apply
	// would make of them.
	DryRun map[object.Key]*unstructured.Unstructured
}

// Observe reads the current state of every desired and inventory object, and
// dry-runs the apply of every desired object that exists: the server's own
// defaulting and merging decide whether an object would change, so values the
// server normalises (resource quantities, defaults) are not mistaken for changes.
//
// A desired object with fields the ignore rules name is replaced in the slice by
// a copy holding the live values of those fields (plan.RespectIgnored), so that
// what is dry-run is what a sync would apply.
//
// Objects are observed concurrently (at most parallel at a time): each one's
// reads and dry run concern it alone, and its results are merged in the order
// of desired, then of inventory, so the observation and the errors are what
// observing one object after the other would give.
func (a *Applier) Observe(ctx context.Context, desired []*unstructured.Unstructured, inventory []plan.InventoryEntry, ignore []plan.IgnoreRule) (Observation, error) {
	obs := Observation{Current: map[object.Key]*unstructured.Unstructured{}, DryRun: map[object.Key]*unstructured.Unstructured{}}
	var errs []error
	results := make([]observed, len(desired))
	existing := a.existingNames(ctx, desired)
	forEach(len(desired), func(i int) {
		if desired[i].GetName() != "" { // else a hook with metadata.generateName: a new object on each run
			results[i] = a.observe(ctx, desired[i], ignore, existing)
		}
	})
	for i, r := range results {
		if r.desired == nil {
			continue
		}
		k := object.KeyOf(r.desired)
		desired[i] = r.desired
		if r.seen {
			obs.Current[k] = r.current
		}
		if r.dryRun != nil {
			obs.DryRun[k] = r.dryRun
		}
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	var rest []plan.InventoryEntry
	for _, e := range inventory {
		if _, seen := obs.Current[e.Key]; !seen {
			rest = append(rest, e)
		}
	}
	found := make([]observed, len(rest))
	forEach(len(rest), func(i int) {
		e := rest[i]
		gvk := schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
		live, err := a.get(ctx, gvk, e.Key)
		switch {
		case errors.Is(err, ErrUnknownKind) || apierrors.IsNotFound(err):
			found[i] = observed{seen: true} // its kind is gone, and it with it
		case err != nil:
			found[i] = observed{err: &ObjectError{Key: e.Key, Err: fmt.Errorf("reading: %w", err)}}
		default:
			found[i] = observed{current: live, seen: true}
		}
	})
	for i, r := range found {
		if _, seen := obs.Current[rest[i].Key]; seen {
			continue // listed twice
		}
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		obs.Current[rest[i].Key] = r.current
	}
	return obs, errors.Join(errs...)
}

// observed is what Observe learned about one object.
type observed struct {
	// desired is the object as dry-run (with its ignored fields from live).
	desired *unstructured.Unstructured
	// current is the live object when seen: nil when it does not exist, or
	// when its CRD is part of this sync (it will be created).
	current *unstructured.Unstructured
	seen    bool
	// dryRun is what applying desired would make of the live object; nil
	// when not dry-run.
	dryRun *unstructured.Unstructured
	err    error
}

// observe reads one desired object and dry-runs its apply when it exists. It
// touches nothing shared but the verified memory, which has its own lock.
// existing are the names listed where many objects were missing from the
// watch cache (existingNames).
func (a *Applier) observe(ctx context.Context, o *unstructured.Unstructured, ignore []plan.IgnoreRule, existing map[lookupScope]map[string]bool) observed {
	r := observed{desired: o}
	k := object.KeyOf(o)
	live, err := a.get(ctx, o.GroupVersionKind(), k)
	if err == nil && live == nil && a.live != nil && !a.listedAbsent(o, existing) {
		// The watch cache holds only what Lockstep tracks: an object made
		// by hand or by another tool is visible to the server only, and
		// applying over it is an adoption, not a create.
		live, err = a.lookUp(ctx, o.GroupVersionKind(), k)
	}
	if errors.Is(err, ErrUnknownKind) {
		r.seen = true // its CRD is part of this sync: it will be created
		return r
	}
	if err != nil {
		r.err = &ObjectError{Key: k, Err: fmt.Errorf("reading: %w", err)}
		return r
	}
	r.current, r.seen = live, true
	if live == nil {
		a.verified.forget(k)
		return r
	}
	o = plan.RespectIgnored(o, live, ignore)
	r.desired = o
	if a.verified.matches(k, o, live) {
		r.dryRun = live // applying again would change nothing
		return r
	}
	dry, err := a.serverSideApply(ctx, o, true)
	if err != nil {
		r.err = &ObjectError{Key: k, Err: fmt.Errorf("dry run: %w", err)}
		return r
	}
	if dry.GetResourceVersion() != live.GetResourceVersion() {
		// The cache has not caught up with the server (a dry run answers from
		// the object as stored now): compare with the stored object instead.
		if live, err = a.getFromServer(ctx, o.GroupVersionKind(), k); err != nil {
			r.err = &ObjectError{Key: k, Err: fmt.Errorf("reading: %w", err)}
			return r
		}
		r.current = live
		if live == nil { // deleted meanwhile: it will be created
			a.verified.forget(k)
			return r
		}
	}
	r.dryRun = dry
	if len(plan.ChangedFields(live, dry)) == 0 {
		a.verified.remember(k, o, live)
	}
	return r
}

func (a *Applier) serverSideApply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	c, err := a.client(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.Apply(ctx, o.GetName(), o, opts)
}
