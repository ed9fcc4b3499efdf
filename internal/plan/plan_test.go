package plan_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func summary(p plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		line := string(s.Action) + " " + s.Key.String()
		if len(s.ChangedFields) > 0 {
			line += " " + strings.Join(s.ChangedFields, ",")
		}
		out = append(out, line)
	}
	return out
}

func TestComputeCreatesUpdatesPrunesInOrder(t *testing.T) {
	ns := obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}")
	deploy := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec: {replicas: 3}")
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: prod}\ndata: {LEVEL: info}")
	crd := obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}")
	widget := obj(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: prod}")

	liveDeploy := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod, resourceVersion: '7', generation: 2, managedFields: [{manager: lockstep}]}\nspec: {replicas: 2}\nstatus: {replicas: 2}")
	dryDeploy := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod, resourceVersion: '7', generation: 3}\nspec: {replicas: 3}\nstatus: {replicas: 2}")
	liveCM := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: prod, resourceVersion: '5'}\ndata: {LEVEL: info}")
	oldSvc := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: old, namespace: prod}")
	oldSA := obj(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: old, namespace: prod}")
	keptCM := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: precious, namespace: prod, annotations: {lockstep.dev/prune: disabled}}")

	inv := []plan.InventoryEntry{
		{Key: object.KeyOf(deploy), Version: "v1"}, {Key: object.KeyOf(cm), Version: "v1"},
		{Key: object.KeyOf(oldSvc), Version: "v1"}, {Key: object.KeyOf(oldSA), Version: "v1"},
		{Key: object.KeyOf(keptCM), Version: "v1"},
		{Key: object.Key{Kind: "Secret", Namespace: "prod", Name: "gone"}, Version: "v1"},
	}
	current := map[object.Key]*unstructured.Unstructured{
		object.KeyOf(deploy): liveDeploy, object.KeyOf(cm): liveCM,
		object.KeyOf(oldSvc): oldSvc, object.KeyOf(oldSA): oldSA, object.KeyOf(keptCM): keptCM,
		{Kind: "Secret", Namespace: "prod", Name: "gone"}: nil, // deleted by someone already
	}
	p, err := plan.Compute(plan.Input{
		Desired:   []*unstructured.Unstructured{widget, deploy, cm, crd, ns},
		DryRun:    map[object.Key]*unstructured.Unstructured{object.KeyOf(deploy): dryDeploy, object.KeyOf(cm): liveCM},
		Current:   current,
		Inventory: inv,
		Prune:     true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Create Namespace/prod",
		"Unchanged ConfigMap/prod/settings",
		"Create CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
		"Update Deployment.apps/prod/web spec.replicas",
		"Create Widget.example.com/prod/w",
		// prunes come last, dependents first
		"Prune Service/prod/old",
		"Keep ConfigMap/prod/precious",
		"Prune ServiceAccount/prod/old",
	}
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.InSync() {
		t.Error("a plan with creates reports InSync")
	}
	counts := p.Counts()
	if counts[plan.Create] != 3 || counts[plan.Update] != 1 || counts[plan.Prune] != 2 || counts[plan.Keep] != 1 {
		t.Errorf("counts = %v", counts)
	}
	var invKeys []string
	for _, e := range p.Inventory() {
		invKeys = append(invKeys, e.String())
	}
	if diff := cmp.Diff([]string{
		"ConfigMap/prod/precious", "ConfigMap/prod/settings", "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
		"Deployment.apps/prod/web", "Namespace/prod", "Widget.example.com/prod/w",
	}, invKeys); diff != "" {
		t.Errorf("next inventory (-want +got):\n%s", diff)
	}
}

func TestPruneOffKeepsEverything(t *testing.T) {
	old := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: a}")
	p, err := plan.Compute(plan.Input{
		Inventory: []plan.InventoryEntry{{Key: object.KeyOf(old), Version: "v1"}},
		Current:   map[object.Key]*unstructured.Unstructured{object.KeyOf(old): old},
		Prune:     false,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Keep || !strings.Contains(p.Steps[0].Reason, "prune is off") {
		t.Errorf("plan = %s", p)
	}
	if !p.InSync() {
		t.Error("a plan of only Keep steps should be in sync")
	}
}

func TestComputeRefusesDuplicates(t *testing.T) {
	a := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}")
	b := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}")
	if _, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{a, b}}); err == nil || !strings.Contains(err.Error(), "ConfigMap/x/a is desired twice") {
		t.Errorf("err = %v", err)
	}
}

func TestChangedFields(t *testing.T) {
	live := obj(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {app.kubernetes.io/name: web, tier: front}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  managedFields: [{manager: kubectl}]
  resourceVersion: "1"
data: {A: "1", B: "2"}
`)
	wouldBe := obj(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {app.kubernetes.io/name: api, tier: front}
  resourceVersion: "2"
data: {A: "1", C: "3"}
`)
	got := plan.ChangedFields(live, wouldBe)
	want := []string{"data.B", "data.C", "metadata.labels[app.kubernetes.io/name]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changed fields (-want +got):\n%s", diff)
	}
	if got := plan.ChangedFields(live, live); len(got) != 0 {
		t.Errorf("an object compared with itself changed %v", got)
	}
	containers := func(images ...string) *unstructured.Unstructured {
		var b strings.Builder
		b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n")
		for _, img := range images {
			b.WriteString("      - {name: c, image: " + img + "}\n")
		}
		return obj(t, b.String())
	}
	if diff := cmp.Diff([]string{"spec.template.spec.containers[1].image"}, plan.ChangedFields(containers("a", "b"), containers("a", "c"))); diff != "" {
		t.Errorf("list item change (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"spec.template.spec.containers"}, plan.ChangedFields(containers("a"), containers("a", "b"))); diff != "" {
		t.Errorf("list length change (-want +got):\n%s", diff)
	}
}

func TestNamespacesAreNeverPruned(t *testing.T) {
	ns := obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}")
	p, err := plan.Compute(plan.Input{Prune: true, Current: map[object.Key]*unstructured.Unstructured{object.KeyOf(ns): ns},
		Inventory: []plan.InventoryEntry{{Key: object.KeyOf(ns), Version: "v1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Keep || !strings.Contains(p.Steps[0].Reason, "never pruned") {
		t.Errorf("steps %+v", p.Steps)
	}
}
