package plan_test

import (
	"testing"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// A sync waits on the cluster for hooks, for a wave before a later changing
// one, and for a new CRD; anything else applies without waiting.
func TestWaitsNamesTheSyncsThatWaitOnTheCluster(t *testing.T) {
	cm := func(name string, wave int, a plan.Action) plan.Step {
		return plan.Step{Key: object.Key{Kind: "ConfigMap", Namespace: "ns", Name: name}, Wave: wave, Action: a}
	}
	crd := plan.Step{Key: object.Key{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "w.example.com"}, Action: plan.Create}
	hook := plan.Hook{Key: object.Key{Kind: "Job", Namespace: "ns", Name: "migrate"}, Phase: plan.PreSync}
	for _, c := range []struct {
		name string
		plan plan.Plan
		want bool
	}{
		{"in sync, with hooks", plan.Plan{Steps: []plan.Step{cm("a", 0, plan.Unchanged)}, Hooks: []plan.Hook{hook}}, false},
		{"one wave", plan.Plan{Steps: []plan.Step{cm("a", 0, plan.Create), cm("b", 0, plan.Update), cm("c", 0, plan.Prune)}}, false},
		{"a hook", plan.Plan{Steps: []plan.Step{cm("a", 0, plan.Create)}, Hooks: []plan.Hook{hook}}, true},
		{"a later wave changes", plan.Plan{Steps: []plan.Step{cm("a", 0, plan.Unchanged), cm("b", 1, plan.Update)}}, true},
		{"only the first wave changes", plan.Plan{Steps: []plan.Step{cm("a", 0, plan.Create), cm("b", 1, plan.Unchanged)}}, false},
		{"a new CRD", plan.Plan{Steps: []plan.Step{crd}}, true},
	} {
		if got := c.plan.Waits(); got != c.want {
			t.Errorf("%s: Waits() = %v, want %v", c.name, got, c.want)
		}
	}
}
