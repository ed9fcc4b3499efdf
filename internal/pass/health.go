package pass

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// Health evaluates every desired object of the plan from the freshest state a
// pass holds: what the server returned for objects it just applied, what it
// observed for the others.
func Health(p plan.Plan, obs apply.Observation, cs apply.ChangeSet) (map[object.Key]health.Result, health.Summary) {
	byKey := map[object.Key]health.Result{}
	var names []string
	var results []health.Result
	for _, s := range p.Steps {
		if s.Action == plan.Prune || s.Action == plan.Keep {
			continue
		}
		var live *unstructured.Unstructured
		if o, ok := cs.Live[s.Key]; ok {
			live = o
		} else {
			live = obs.Current[s.Key]
		}
		r := health.Of(live)
		byKey[s.Key] = r
		names = append(names, s.Key.String())
		results = append(results, r)
	}
	return byKey, health.Summarize(names, results)
}
