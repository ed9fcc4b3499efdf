package plan_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// An existing object is adopted when neither its tracking label nor the
// inventory says it is the Application's.
func TestAnExistingObjectNobodyManagesIsAdopted(t *testing.T) {
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndata: {a: git}")
	object.Track([]*unstructured.Unstructured{desired}, "ns/app")
	byHand := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndata: {a: hand}")
	ours := byHand.DeepCopy()
	object.Track([]*unstructured.Unstructured{ours}, "ns/app")
	k := object.KeyOf(desired)
	for _, c := range []struct {
		name      string
		current   *unstructured.Unstructured
		inventory []plan.InventoryEntry
		want      bool
	}{
		{"made by hand", byHand, nil, true},
		{"tracked as ours", ours, nil, false},
		{"in the inventory, its label removed (drift)", byHand, []plan.InventoryEntry{{Key: k, Version: "v1"}}, false},
		{"absent", nil, nil, false},
	} {
		p, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{desired.DeepCopy()}, Current: map[object.Key]*unstructured.Unstructured{k: c.current},
			Inventory: c.inventory, Owner: "ns/app"})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Steps[0].Adopted; got != c.want {
			t.Errorf("%s: Adopted = %v, want %v", c.name, got, c.want)
		}
	}
}
