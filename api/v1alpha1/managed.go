package v1alpha1

import (
	"cmp"
	"slices"
)

// MaxResources is how many objects status.resources lists at most.
const MaxResources = 1000

// ManagedRefs lists the objects the status says the Application manages:
// Managed, or the Inventory of a status written before Managed was.
func (s *ApplicationStatus) ManagedRefs() []ObjectReference {
	if len(s.Managed) == 0 {
		return s.Inventory
	}
	var refs []ObjectReference
	for _, m := range s.Managed {
		for _, name := range m.Names {
			refs = append(refs, ObjectReference{Group: m.Group, Version: m.Version, Kind: m.Kind, Namespace: m.Namespace, Name: name})
		}
	}
	return refs
}

// Manages reports whether the status lists the object (of any version) as
// managed.
func (s *ApplicationStatus) Manages(group, kind, namespace, name string) bool {
	for _, m := range s.Managed {
		if m.Group == group && m.Kind == kind && m.Namespace == namespace && slices.Contains(m.Names, name) {
			return true
		}
	}
	if len(s.Managed) > 0 {
		return false
	}
	return slices.ContainsFunc(s.Inventory, func(r ObjectReference) bool {
		return r.Group == group && r.Kind == kind && r.Namespace == namespace && r.Name == name
	})
}

// SetManaged records refs as the objects managed, grouped by kind and
// namespace in a stable order, and clears the older Inventory.
func (s *ApplicationStatus) SetManaged(refs []ObjectReference) {
	s.Inventory = nil
	s.Managed = nil
	if len(refs) == 0 {
		return
	}
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(a, b ObjectReference) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.Name, b.Name))
	})
	for _, r := range sorted {
		n := len(s.Managed)
		if n > 0 {
			last := &s.Managed[n-1]
			if last.Group == r.Group && last.Kind == r.Kind && last.Namespace == r.Namespace && last.Version == r.Version {
				last.Names = append(last.Names, r.Name)
				continue
			}
		}
		s.Managed = append(s.Managed, ManagedObjects{Group: r.Group, Version: r.Version, Kind: r.Kind, Namespace: r.Namespace, Names: []string{r.Name}})
	}
}
