package pass

import (
	"strings"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// DriftedObject is one object the cluster holds otherwise than Git says.
type DriftedObject struct {
	Step plan.Step
	// Deleted is true when the object is gone from the cluster; otherwise its
	// fields in Step.ChangedFields differ.
	Deleted bool
	// ChangedBy is who its managedFields say wrote it last, apart from Lockstep.
	ChangedBy *audit.Writer
}

// Drift lists the objects that differ from Git, with who changed them: the one
// description of drift that the condition, the Event and the ledger record are
// all made from.
func Drift(p *Pass) []DriftedObject {
	var out []DriftedObject
	for _, s := range p.Plan.Steps {
		switch s.Action {
		case plan.Create:
			out = append(out, DriftedObject{Step: s, Deleted: true})
		case plan.Update:
			d := DriftedObject{Step: s}
			if w, ok := lastWriter(p, s.Key); ok {
				d.ChangedBy = &audit.Writer{Manager: w.Manager, Operation: w.Operation, Time: w.Time}
			}
			out = append(out, d)
		}
	}
	return out
}

// DescribeDrift says, for conditions and Events, which objects drifted, how,
// and who wrote them last; objects left to prune are named too.
func DescribeDrift(p *Pass) string {
	drifted := map[object.Key]DriftedObject{}
	for _, d := range Drift(p) {
		drifted[d.Step.Key] = d
	}
	var parts []string
	for _, s := range p.Plan.Steps {
		d, ok := drifted[s.Key]
		switch {
		case s.Action == plan.Prune:
			parts = append(parts, s.Key.String()+" is left to prune")
		case !ok:
		case d.Deleted:
			parts = append(parts, s.Key.String()+" was deleted")
		default:
			desc := s.Key.String() + " changed (" + strings.Join(s.ChangedFields, ", ") + ")"
			if d.ChangedBy != nil {
				desc += " by " + d.ChangedBy.Manager
				if d.ChangedBy.Time != "" {
					desc += " at " + d.ChangedBy.Time
				}
			}
			parts = append(parts, desc)
		}
	}
	return strings.Join(parts, "; ")
}
