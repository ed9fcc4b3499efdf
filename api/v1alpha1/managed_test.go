package v1alpha1_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func TestManagedGroupsObjectsByKindAndNamespace(t *testing.T) {
	refs := []v1.ObjectReference{
		{Version: "v1", Kind: "ConfigMap", Namespace: "b", Name: "z"},
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "a", Name: "web"},
		{Version: "v1", Kind: "ConfigMap", Namespace: "b", Name: "a"},
		{Version: "v1", Kind: "Namespace", Name: "b"},
	}
	st := v1.ApplicationStatus{Inventory: refs}
	st.SetManaged(refs)
	want := []v1.ManagedObjects{
		{Version: "v1", Kind: "ConfigMap", Namespace: "b", Names: []string{"a", "z"}},
		{Version: "v1", Kind: "Namespace", Names: []string{"b"}},
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "a", Names: []string{"web"}},
	}
	if diff := cmp.Diff(want, st.Managed); diff != "" || st.Inventory != nil {
		t.Errorf("managed (-want +got):\n%s\ninventory %v", diff, st.Inventory)
	}
	if got := st.ManagedRefs(); len(got) != len(refs) {
		t.Errorf("ManagedRefs = %v", got)
	}
	for _, tc := range []struct {
		group, kind, namespace, name string
		want                         bool
	}{
		{"", "ConfigMap", "b", "z", true},
		{"apps", "Deployment", "a", "web", true},
		{"", "ConfigMap", "a", "z", false},
		{"", "Secret", "b", "z", false},
		{"", "Namespace", "", "b", true},
	} {
		if got := st.Manages(tc.group, tc.kind, tc.namespace, tc.name); got != tc.want {
			t.Errorf("Manages(%q, %q, %q, %q) = %v", tc.group, tc.kind, tc.namespace, tc.name, got)
		}
	}
	st.SetManaged(nil)
	if st.Managed != nil || st.ManagedRefs() != nil {
		t.Errorf("nothing managed: %v", st.Managed)
	}
}

// A status written before Managed existed is still read: its objects are
// still pruned, and still claimed against other Applications.
func TestAnOlderStatusIsRead(t *testing.T) {
	old := []v1.ObjectReference{{Version: "v1", Kind: "ConfigMap", Namespace: "b", Name: "z"}}
	st := v1.ApplicationStatus{Inventory: old}
	if diff := cmp.Diff(old, st.ManagedRefs()); diff != "" {
		t.Errorf("ManagedRefs (-want +got):\n%s", diff)
	}
	if !st.Manages("", "ConfigMap", "b", "z") || st.Manages("", "ConfigMap", "b", "y") {
		t.Error("Manages does not read the older inventory")
	}
}
