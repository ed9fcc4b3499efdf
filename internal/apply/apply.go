package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// Options control Apply.
type Options struct {
	// CRDTimeout bounds the wait for a new CustomResourceDefinition to be
	// established before its custom resources are applied.
	CRDTimeout time.Duration
}

// DefaultOptions are the options Apply uses when given the zero value.
func DefaultOptions() Options { return Options{CRDTimeout: time.Minute} }

// ChangeSet is what Apply did.
type ChangeSet struct {
	// Applied are the Create and Update steps that succeeded.
	Applied []plan.Step
	// Pruned are the Prune steps that succeeded.
	Pruned []plan.Step
	// Failed are the steps that failed, with why.
	Failed []*ObjectError
	// PruneSkipped is true when prune steps were not run because an apply failed.
	PruneSkipped bool
	// Live holds what the server returned for each applied object.
	Live map[object.Key]*unstructured.Unstructured
}

// Apply carries out the plan's Create and Update steps wave by wave, then its
// Prune steps. Before a wave is applied, every object of the waves before it
// must be healthy (when a later wave has something to apply). Unchanged and Keep
// steps write nothing. An apply failure stops at the end of its wave and cancels
// every prune: never make things worse.
//
// Within a wave, steps go in runs of one kind rank (plan.Rank), one run after
// the other: a Namespace before what lives in it, a CRD before its custom
// resources. The steps of a run do not need each other, so they are applied at
// the same time (at most parallel at a time); prunes likewise, in runs of one
// wave and rank, in the plan's reverse order. Whatever order requests finish
// in, the change set lists steps in plan order.
func (a *Applier) Apply(ctx context.Context, p plan.Plan, opts Options) (ChangeSet, error) {
	if opts == (Options{}) {
		opts = DefaultOptions()
	}
	var cs ChangeSet
	var pendingCRDs []string
	waves := p.Waves()
	for i, wave := range waves {
		if i > 0 && changes(wave) {
			if err := a.waitHealthy(ctx, waves[i-1], cs.Live); err != nil {
				cs.Failed = append(cs.Failed, err)
				break
			}
		}
		for _, run := range runs(wave, plan.Create, plan.Update) {
			pendingCRDs = a.applyRun(ctx, run, pendingCRDs, opts, &cs)
		}
		if len(cs.Failed) > 0 {
			break // later waves wait for this one, which failed
		}
	}
	if len(cs.Failed) > 0 {
		for _, step := range p.Steps {
			cs.PruneSkipped = cs.PruneSkipped || step.Action == plan.Prune
		}
		return cs, cs.err()
	}
	for _, run := range runs(p.Steps, plan.Prune) {
		errs := make([]error, len(run))
		forEach(len(run), func(i int) { errs[i] = a.delete(ctx, run[i]) })
		for i, step := range run {
			if errs[i] != nil {
				cs.Failed = append(cs.Failed, &ObjectError{Key: step.Key, Err: fmt.Errorf("pruning: %w", errs[i])})
				continue
			}
			a.verified.forget(step.Key)
			cs.Pruned = append(cs.Pruned, step)
		}
	}
	return cs, cs.err()
}

// applyRun applies a run of steps at the same time and adds the results to cs
// in the run's order. pendingCRDs are CRDs applied earlier in the sync and not
// yet known established; it returns those still pending after the run.
func (a *Applier) applyRun(ctx context.Context, run []plan.Step, pendingCRDs []string, opts Options, cs *ChangeSet) []string {
	pendingCRDs, unknown, waitErr := a.establish(ctx, run, pendingCRDs, opts.CRDTimeout)
	live := make([]*unstructured.Unstructured, len(run))
	errs := make([]error, len(run))
	forEach(len(run), func(i int) {
		step := run[i]
		if unknown[step.Desired.GroupVersionKind()] {
			errs[i] = waitErr
			return
		}
		applied, err := a.serverSideApply(ctx, step.Desired, false)
		if err != nil {
			a.verified.forget(step.Key)
			errs[i] = err
			return
		}
		a.verified.remember(step.Key, step.Desired, applied)
		live[i] = applied
	})
	for i, step := range run {
		if errs[i] != nil {
			cs.Failed = append(cs.Failed, &ObjectError{Key: step.Key, Err: errs[i]})
			continue
		}
		if cs.Live == nil {
			cs.Live = map[object.Key]*unstructured.Unstructured{}
		}
		cs.Live[step.Key] = live[i]
		cs.Applied = append(cs.Applied, step)
		if step.Key.Group == crdGroupKind.Group && step.Key.Kind == crdGroupKind.Kind {
			pendingCRDs = append(pendingCRDs, step.Key.Name)
		}
	}
	return pendingCRDs
}

// establish waits, once, for the pending CRDs when a kind of the run is not
// served yet, and returns the CRDs still pending. When the wait fails, it
// returns why, and the kinds of the run that are still unknown: their steps
// fail with that error.
func (a *Applier) establish(ctx context.Context, run []plan.Step, pendingCRDs []string, timeout time.Duration) ([]string, map[schema.GroupVersionKind]bool, error) {
	if len(pendingCRDs) == 0 {
		return nil, nil, nil
	}
	unknown := map[schema.GroupVersionKind]bool{}
	waiting := false
	for _, s := range run {
		gvk := s.Desired.GroupVersionKind()
		if _, checked := unknown[gvk]; !checked { // once a kind: an unknown one costs a discovery
			_, err := a.resource(gvk)
			unknown[gvk] = errors.Is(err, ErrUnknownKind)
			waiting = waiting || unknown[gvk]
		}
	}
	if !waiting {
		return pendingCRDs, nil, nil
	}
	if err := a.waitEstablished(ctx, pendingCRDs, timeout); err != nil {
		return pendingCRDs, unknown, err
	}
	return nil, nil, nil
}

func changes(steps []plan.Step) bool {
	for _, s := range steps {
		if s.Action == plan.Create || s.Action == plan.Update {
			return true
		}
	}
	return false
}

func (cs ChangeSet) err() error {
	errs := make([]error, len(cs.Failed))
	for i, e := range cs.Failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (a *Applier) delete(ctx context.Context, step plan.Step) error {
	gvk := schema.GroupVersionKind{Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind}
	c, err := a.client(gvk, step.Key.Namespace)
	if errors.Is(err, ErrUnknownKind) {
		return nil // the kind is gone, so is the object
	}
	if err != nil {
		return err
	}
	background := metav1.DeletePropagationBackground
	err = c.Delete(ctx, step.Key.Name, metav1.DeleteOptions{PropagationPolicy: &background})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// waitEstablished polls the named CRDs until each reports Established, then makes
// the REST mapper forget what it knew so their kinds resolve.
func (a *Applier) waitEstablished(ctx context.Context, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	crds := a.clients.Dynamic.Resource(schema.GroupVersionResource{Group: crdGroupKind.Group, Version: "v1", Resource: "customresourcedefinitions"})
	for _, name := range names {
		for {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CustomResourceDefinition %s not established after %s", name, timeout)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	a.clients.Mapper.Reset()
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// EnsureNamespace creates the namespace when it does not exist. It is not part
// of any inventory, so it is never pruned.
func (a *Applier) EnsureNamespace(ctx context.Context, name string) (created bool, err error) {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	c := a.clients.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	_, err = c.Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	return err == nil, err
}
