package pass

import (
	"fmt"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/health"
)

// maxChangedFields is how many changed field paths one entry of
// status.resources lists; a CRD's update can change hundreds.
const maxChangedFields = 16

// setResources replaces the entries of status.resources, all listed.
func (b *statusBuilder) setResources(entries []v1.ResourceStatus) {
	b.st.Resources, b.st.ResourcesOmitted = entries, 0
}

// boundResources keeps status.resources within v1.MaxResources entries, so
// that the Application's status stays far below what the API server takes
// in one object: 10,000 entries are about 1.2 MB. What is left out, and
// counted in omitted, is first what needs no look (Unchanged and Healthy),
// then what changed, and last what failed, drifted or is not healthy; the
// entries kept stay in plan order.
func boundResources(entries []v1.ResourceStatus, omitted int32) ([]v1.ResourceStatus, int32) {
	for i := range entries {
		if f := entries[i].ChangedFields; len(f) > maxChangedFields {
			trimmed := append(f[:maxChangedFields-1:maxChangedFields-1], fmt.Sprintf("(and %d more)", len(f)-maxChangedFields+1))
			entries[i].ChangedFields = trimmed
		}
	}
	if len(entries) <= v1.MaxResources {
		return entries, omitted
	}
	var byClass [3]int
	for _, e := range entries {
		byClass[interest(e)]++
	}
	// The least interesting class kept, and how many of it fit.
	room, lowest, fit := v1.MaxResources, 0, 0
	for c := range byClass {
		lowest, fit = c, min(room, byClass[c])
		room -= fit
		if room == 0 {
			break
		}
	}
	kept := make([]v1.ResourceStatus, 0, v1.MaxResources)
	for _, e := range entries {
		switch c := interest(e); {
		case c < lowest:
			kept = append(kept, e)
		case c == lowest && fit > 0:
			kept = append(kept, e)
			fit--
		}
	}
	return kept, omitted + int32(len(entries)-len(kept))
}

// interest ranks an entry: 0 needs a look (it failed, drifted, was kept
// from a prune, or is not healthy), 1 changed, 2 neither.
func interest(e v1.ResourceStatus) int {
	switch {
	case e.Message != "" || e.DriftedBy != nil || e.Action == v1.ActionKeep ||
		e.Health != "" && e.Health != string(health.Healthy) && e.Health != string(health.Suspended):
		return 0
	case e.Action == v1.ActionCreate || e.Action == v1.ActionUpdate || e.Action == v1.ActionPrune:
		return 1
	}
	return 2
}
