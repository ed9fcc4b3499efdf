// Package plan decides what a sync does: which desired objects are created,
// updated (and which fields change) or left alone, and which objects of the
// previous inventory are pruned or kept. It is pure: the caller supplies the live
// state (what the server would make of each desired object, from a server-side
// dry run or a cache), and gets back a Plan it can print, show, test or apply.
package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Action is what a step does to an object.
type Action string

// Actions, in the vocabulary of the Application status.
const (
	Create    Action = "Create"
	Update    Action = "Update"
	Unchanged Action = "Unchanged"
	Prune     Action = "Prune"
	// Keep is an object no longer desired that stays: prune is off, or the object
	// opts out with the annotation lockstep.dev/prune: disabled.
	Keep Action = "Keep"
)

// PruneAnnotation set to PruneDisabled on a live object keeps it when Git drops it.
const (
	PruneAnnotation = "lockstep.dev/prune"
	PruneDisabled   = "disabled"
)

// InventoryEntry is an object a previous sync applied, with the version it was
// applied as (needed to address it for pruning).
type InventoryEntry struct {
	object.Key
	Version string
}

// Input is everything a plan is computed from.
type Input struct {
	// Desired objects, as rendered (namespaces already defaulted).
	Desired []*unstructured.Unstructured
	// DryRun holds, per desired object, what the server would hold after applying
	// it: the result of a server-side dry run. Missing or nil means the object does
	// not exist yet.
	DryRun map[object.Key]*unstructured.Unstructured
	// Current holds the live objects as they are now, for desired objects and for
	// inventory entries; missing or nil means not found.
	Current map[object.Key]*unstructured.Unstructured
	// Inventory is what the previous successful sync applied.
	Inventory []InventoryEntry
	// Prune allows deleting inventory objects that are no longer desired.
	Prune bool
	// Ignore lists fields that are not compared once an object exists.
	Ignore []IgnoreRule
	// Owner is the Application the plan is for ("namespace/name"): an object no
	// longer desired that another Application now owns is kept.
	Owner string
}

// Step is one object's part in a plan.
type Step struct {
	Action Action
	Key    object.Key
	// Version is the API version to address the object with.
	Version string
	// Desired is the object to apply (nil for Prune and Keep).
	Desired *unstructured.Unstructured
	// ChangedFields are the field paths an Update changes, sorted.
	ChangedFields []string
	// Reason explains a Keep.
	Reason string
	// Wave is the object's sync wave (WaveAnnotation); lower waves go first.
	Wave int
	// Adopted marks an Update or Unchanged step of an object that exists but
	// that no Application manages (no tracking label naming Input.Owner, not in
	// the inventory): applying takes it over.
	Adopted bool
}

// Plan is an ordered list of steps: applies in dependency order, then prunes in
// reverse dependency order.
type Plan struct {
	Steps []Step
	// Hooks run around a sync that applies something; in wave order.
	Hooks []Hook
}

// Counts returns how many steps of each action the plan has.
func (p Plan) Counts() map[Action]int {
	n := map[Action]int{}
	for _, s := range p.Steps {
		n[s.Action]++
	}
	return n
}

// InSync reports whether the plan changes nothing.
func (p Plan) InSync() bool {
	for _, s := range p.Steps {
		if s.Action == Create || s.Action == Update || s.Action == Prune {
			return false
		}
	}
	return true
}

// Compute builds the plan. It fails on inconsistent input (an object desired
// twice) and on a sync-wave annotation that is not a whole number.
func Compute(in Input) (Plan, error) {
	desired := map[object.Key]bool{}
	inventory := map[object.Key]bool{}
	for _, e := range in.Inventory {
		inventory[e.Key] = true
	}
	var applies, prunes []Step
	var hooks []Hook
	for _, o := range in.Desired {
		k := object.KeyOf(o)
		hook, isHook, skip, err := hookOf(o)
		if err != nil {
			return Plan{}, err
		}
		if skip {
			continue
		}
		if isHook {
			hooks = append(hooks, hook)
			continue
		}
		if o.GetName() == "" {
			return Plan{}, fmt.Errorf("%s: metadata.generateName %q is for hooks only; an object kept in sync needs a fixed metadata.name (a hook says when it runs: annotation %s: PreSync, PostSync or SyncFailed)", k, o.GetGenerateName(), HookAnnotation)
		}
		if desired[k] {
			return Plan{}, fmt.Errorf("%s is desired twice", k)
		}
		desired[k] = true
		wave, err := waveOf(o)
		if err != nil {
			return Plan{}, err
		}
		step := Step{Key: k, Version: o.GroupVersionKind().Version, Desired: o, Wave: wave}
		current, dry := in.Current[k], in.DryRun[k]
		step.Adopted = current != nil && in.Owner != "" && object.Owner(current) != in.Owner && !inventory[k]
		switch {
		case current == nil:
			step.Action = Create
		default:
			if dry == nil {
				dry = o // no dry run available: compare with what we would send
			}
			ignored := ignoredPointers(in.Ignore, k)
			step.ChangedFields = ChangedFields(withoutIgnored(current, ignored), withoutIgnored(dry, ignored))
			step.Action = Unchanged
			if len(step.ChangedFields) > 0 {
				step.Action = Update
			}
		}
		applies = append(applies, step)
	}
	for _, e := range in.Inventory {
		if desired[e.Key] {
			continue
		}
		step := Step{Key: e.Key, Version: e.Version, Action: Prune}
		current, exists := in.Current[e.Key]
		if current != nil {
			step.Wave, _ = waveOf(current) // pruned in reverse wave order; a bad value counts as 0
		}
		switch {
		case exists && current == nil:
			continue // already gone: nothing to prune
		case !in.Prune:
			step.Action, step.Reason = Keep, "no longer in Git; kept because prune is off"
		case current != nil && in.Owner != "" && object.Owner(current) != "" && object.Owner(current) != in.Owner:
			continue // moved to another Application: not ours to prune or keep
		case current != nil && current.GetAnnotations()[PruneAnnotation] == PruneDisabled:
			step.Action, step.Reason = Keep, "no longer in Git; kept because it is annotated "+PruneAnnotation+": "+PruneDisabled
		case e.Group == "" && e.Kind == "Namespace":
			// Deleting a namespace deletes everything in it, the platform's
			// RoleBindings, quotas and pod-security labels included, and it
			// could come back bare: never a side effect of a commit.
			step.Action, step.Reason = Keep, "no longer in Git; a Namespace is never pruned: delete it by hand if it should go"
		}
		prunes = append(prunes, step)
	}
	sortForApply(applies)
	sortForApply(prunes)
	for i, j := 0, len(prunes)-1; i < j; i, j = i+1, j-1 { // delete dependents first
		prunes[i], prunes[j] = prunes[j], prunes[i]
	}
	sort.SliceStable(hooks, func(i, j int) bool {
		if hooks[i].Wave != hooks[j].Wave {
			return hooks[i].Wave < hooks[j].Wave
		}
		return hooks[i].Key.String() < hooks[j].Key.String()
	})
	return Plan{Steps: append(applies, prunes...), Hooks: hooks}, nil
}

// Inventory lists the objects a successful sync of the plan leaves under
// management: every desired object, and every kept one.
func (p Plan) Inventory() []InventoryEntry {
	var inv []InventoryEntry
	for _, s := range p.Steps {
		if s.Action != Prune {
			inv = append(inv, InventoryEntry{Key: s.Key, Version: s.Version})
		}
	}
	sort.Slice(inv, func(i, j int) bool { return inv[i].String() < inv[j].String() })
	return inv
}

// String renders the plan one step a line, for logs and the CLI.
func (p Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "%-9s %s", s.Action, s.Key)
		if len(s.ChangedFields) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(s.ChangedFields, ", "))
		}
		if s.Reason != "" {
			fmt.Fprintf(&b, ": %s", s.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// DesiredObjects returns every object the plan would apply: its steps' and its
// hooks'.
func (p Plan) DesiredObjects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, s := range p.Steps {
		if s.Desired != nil {
			out = append(out, s.Desired)
		}
	}
	for _, h := range p.Hooks {
		out = append(out, h.Object)
	}
	return out
}

// Waits reports whether applying the plan waits on the cluster: for hooks to
// finish, for a wave to be healthy before the next, or for a new
// CustomResourceDefinition to be established. Such a sync runs outside the
// workers that run passes, so waiting holds no one up.
func (p Plan) Waits() bool {
	if p.InSync() {
		return false
	}
	if len(p.Hooks) > 0 {
		return true
	}
	// Apply waits for a wave to be healthy before a later wave that changes
	// something.
	for i, wave := range p.Waves() {
		if i > 0 && slices.ContainsFunc(wave, func(s Step) bool { return s.Action == Create || s.Action == Update }) {
			return true
		}
	}
	for _, s := range p.Steps {
		if (s.Action == Create || s.Action == Update) && s.Key.Group == "apiextensions.k8s.io" && s.Key.Kind == "CustomResourceDefinition" {
			return true
		}
	}
	return false
}
