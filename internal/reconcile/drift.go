package reconcile

import (
	"strings"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// describeDrift says, for events and conditions, which objects drifted, how,
// and who their managedFields say wrote them last.
func describeDrift(p plan.Plan, obs apply.Observation) string {
	var parts []string
	for _, s := range p.Steps {
		switch s.Action {
		case plan.Create:
			parts = append(parts, s.Key.String()+" was deleted")
		case plan.Update:
			d := s.Key.String() + " changed (" + strings.Join(s.ChangedFields, ", ") + ")"
			if live := obs.Current[s.Key]; live != nil {
				if w, ok := object.LastWriter(live, apply.FieldManager); ok {
					d += " by " + w.Manager
					if w.Time != "" {
						d += " at " + w.Time
					}
				}
			}
			parts = append(parts, d)
		case plan.Prune:
			parts = append(parts, s.Key.String()+" is left to prune")
		}
	}
	return strings.Join(parts, "; ")
}
