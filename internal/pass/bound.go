package pass

import (
	"fmt"
	"slices"
	"unicode/utf8"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/health"
)

// maxChangedFields is how many changed field paths one entry of
// status.resources lists (a CRD's update can change hundreds), and
// maxFieldPath how long one may be (an annotation's key, a custom
// resource's free-form map).
const (
	maxChangedFields = 16
	maxFieldPath     = 256
)

// maxResourcesBytes bounds status.resources as JSON, whatever its entries
// hold: beside status.managed (plan.MaxInventoryBytes) and the rest of the
// status, it keeps the Application under etcd's 1.5 MiB.
const maxResourcesBytes = 256 << 10

// setResources replaces the entries of status.resources, all listed.
func (b *statusBuilder) setResources(entries []v1.ResourceStatus) {
	b.st.Resources, b.st.ResourcesOmitted = entries, 0
}

// boundResources keeps status.resources within v1.MaxResources entries and
// maxResourcesBytes, so that the Application's status stays far below what
// the API server takes in one object: 10,000 entries are about 1.2 MB. What is left out, and
// counted in omitted, is first what needs no look (Unchanged and Healthy),
// then what changed, and last what failed, drifted or is not healthy; the
// entries kept stay in plan order.
func boundResources(entries []v1.ResourceStatus, omitted int32) ([]v1.ResourceStatus, int32) {
	size := 0
	for i := range entries {
		entries[i].ChangedFields = boundFields(entries[i].ChangedFields)
		size += entryBytes(entries[i])
	}
	if len(entries) <= v1.MaxResources && size <= maxResourcesBytes {
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
	kept = withinBytes(kept)
	return kept, omitted + int32(len(entries)-len(kept))
}

// withinBytes drops entries, the least interesting last in plan order first,
// until the rest fit in maxResourcesBytes.
func withinBytes(entries []v1.ResourceStatus) []v1.ResourceStatus {
	size := 0
	for _, e := range entries {
		size += entryBytes(e)
	}
	drop := map[int]bool{}
	for c := 2; c >= 0 && size > maxResourcesBytes; c-- {
		for i := len(entries) - 1; i >= 0 && size > maxResourcesBytes; i-- {
			if interest(entries[i]) == c {
				drop[i] = true
				size -= entryBytes(entries[i])
			}
		}
	}
	if len(drop) == 0 {
		return entries
	}
	kept := make([]v1.ResourceStatus, 0, len(entries)-len(drop))
	for i, e := range entries {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	return kept
}

// entryBytes is at least what an entry takes in the status as JSON: its
// field names, and each string as encoding/json escapes it.
func entryBytes(e v1.ResourceStatus) int {
	n := 160 + jsonLen(e.Group) + jsonLen(e.Version) + jsonLen(e.Kind) + jsonLen(e.Namespace) + jsonLen(e.Name) +
		jsonLen(string(e.Action)) + jsonLen(e.Message) + jsonLen(e.Health) + jsonLen(e.HealthMessage)
	for _, f := range e.ChangedFields {
		n += jsonLen(f) + 1
	}
	if w := e.DriftedBy; w != nil {
		n += 96 + jsonLen(w.Manager) + jsonLen(w.Operation) + jsonLen(w.Subresource) + jsonLen(w.Time)
	}
	return n
}

// jsonLen is the length of s as a JSON string: encoding/json writes <, >,
// &, control characters, U+2028 and U+2029 as six bytes (\u003c), quotes
// and backslashes as two.
func jsonLen(s string) int {
	n := 2
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

// boundFields keeps at most maxChangedFields paths of at most maxFieldPath
// bytes, saying how many more there were. The slice given is not changed:
// it may be the plan's.
func boundFields(f []string) []string {
	long := slices.ContainsFunc(f, func(p string) bool { return len(p) > maxFieldPath })
	if len(f) <= maxChangedFields && !long {
		return f
	}
	out := make([]string, 0, maxChangedFields)
	for _, p := range f[:min(len(f), maxChangedFields-1)] {
		out = append(out, TruncateBytes(p, maxFieldPath))
	}
	if len(f) > maxChangedFields {
		return append(out, fmt.Sprintf("(and %d more)", len(f)-maxChangedFields+1))
	}
	if len(f) == maxChangedFields {
		out = append(out, TruncateBytes(f[maxChangedFields-1], maxFieldPath))
	}
	return out
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
