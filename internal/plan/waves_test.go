package plan_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

func TestWavesOrderTheApplyAndThePrune(t *testing.T) {
	migrate := obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: x, annotations: {lockstep.dev/sync-wave: \"-1\"}}")
	db := obj(t, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: x}")
	web := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: x, annotations: {argocd.argoproj.io/sync-wave: \"2\"}}")
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: x, annotations: {argocd.argoproj.io/sync-wave: \"2\", lockstep.dev/sync-wave: \"1\"}}")
	oldLate := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old-late, namespace: x, annotations: {lockstep.dev/sync-wave: \"5\"}}")
	oldEarly := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old-early, namespace: x}")
	p, err := plan.Compute(plan.Input{
		Desired:   []*unstructured.Unstructured{web, cm, db, migrate},
		Current:   keyed(oldLate, oldEarly),
		Inventory: []plan.InventoryEntry{{Key: object.KeyOf(oldEarly), Version: "v1"}, {Key: object.KeyOf(oldLate), Version: "v1"}},
		Prune:     true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Create Job.batch/x/migrate", "Create StatefulSet.apps/x/db", "Create ConfigMap/x/web", "Create Deployment.apps/x/web",
		"Prune ConfigMap/x/old-late", "Prune ConfigMap/x/old-early",
	}
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("order (-want +got; waves -1, 0, 1 (Lockstep's annotation wins), 2; prunes from the highest wave):\n%s", diff)
	}
	var sizes []int
	for _, w := range p.Waves() {
		sizes = append(sizes, len(w))
	}
	if diff := cmp.Diff([]int{1, 1, 1, 1}, sizes); diff != "" {
		t.Errorf("wave sizes (-want +got):\n%s", diff)
	}
}

func TestBadWaveIsAnError(t *testing.T) {
	bad := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x, annotations: {lockstep.dev/sync-wave: \"first\"}}")
	_, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{bad}})
	if err == nil || !strings.Contains(err.Error(), `ConfigMap/x/c: annotation lockstep.dev/sync-wave is "first", not a whole number`) {
		t.Errorf("error = %v", err)
	}
}
