package apply

import (
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

func TestRunsSplitByWaveAndRank(t *testing.T) {
	step := func(a plan.Action, wave int, kind, name string) plan.Step {
		return plan.Step{Action: a, Wave: wave, Key: object.Key{Kind: kind, Name: name}}
	}
	steps := []plan.Step{
		step(plan.Create, 0, "Namespace", "apps"),
		step(plan.Create, 0, "ConfigMap", "a"),
		step(plan.Unchanged, 0, "ConfigMap", "b"),
		step(plan.Update, 0, "ConfigMap", "c"),
		step(plan.Create, 0, "CustomResourceDefinition", "gadgets"),
		step(plan.Create, 0, "Gadget", "g"),
		step(plan.Create, 0, "Widget", "w"), // custom resources share the last rank
		step(plan.Create, 1, "Widget", "x"),
		step(plan.Prune, 1, "Widget", "y"),
		step(plan.Prune, 1, "Gizmo", "z"),
		step(plan.Keep, 0, "ConfigMap", "k"),
		step(plan.Prune, 0, "ConfigMap", "p"),
		step(plan.Prune, 0, "ConfigMap", "q"),
	}
	names := func(runs [][]plan.Step) [][]string {
		var out [][]string
		for _, r := range runs {
			var ns []string
			for _, s := range r {
				ns = append(ns, s.Key.Name)
			}
			out = append(out, ns)
		}
		return out
	}
	if diff := cmp.Diff([][]string{{"apps"}, {"a", "c"}, {"gadgets"}, {"g", "w"}, {"x"}}, names(runs(steps, plan.Create, plan.Update))); diff != "" {
		t.Errorf("apply runs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"y", "z"}, {"p", "q"}}, names(runs(steps, plan.Prune))); diff != "" {
		t.Errorf("prune runs (-want +got):\n%s", diff)
	}
}

func TestForEachCallsEachIndexOnceWithinTheBound(t *testing.T) {
	const n = 100
	var running, most atomic.Int32
	calls := make([]int, n)
	forEach(n, func(i int) {
		now := running.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		calls[i]++
		running.Add(-1)
	})
	for i, c := range calls {
		if c != 1 {
			t.Errorf("index %d called %d times", i, c)
		}
	}
	if m := most.Load(); m > parallel {
		t.Errorf("%d calls at once, want at most %d", m, parallel)
	}
}
