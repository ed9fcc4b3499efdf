package plan_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

func TestIgnoredFieldsAreNeitherComparedNorChanged(t *testing.T) {
	desired := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: web:2}]`)
	live := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, annotations: {"a/b": scaled}}
spec:
  replicas: 7
  template:
    spec:
      containers: [{name: web, image: web:1}]`)
	rules := []plan.IgnoreRule{
		{Group: "apps", Kind: "Deployment", Pointers: []string{"/spec/replicas", "/metadata/annotations/a~1b"}},
		{Group: "apps", Kind: "Deployment", Name: "other", Pointers: []string{"/spec/template"}},
	}
	adjusted := plan.RespectIgnored(desired, live, rules)
	if got := adjusted.Object["spec"].(map[string]any)["replicas"]; got != int64(7) && got != float64(7) {
		t.Errorf("replicas to apply = %v, want the live 7", got)
	}
	if desired.Object["spec"].(map[string]any)["replicas"] != float64(2) && desired.Object["spec"].(map[string]any)["replicas"] != int64(2) {
		t.Error("RespectIgnored modified its input")
	}
	if got := adjusted.GetAnnotations()["a/b"]; got != "" {
		// the desired object has no annotations map: nothing to keep in line
		t.Errorf("annotation copied into a map the manifest lacks: %q", got)
	}
	p, err := plan.Compute(plan.Input{
		Desired: []*unstructured.Unstructured{adjusted}, Current: keyed(live), DryRun: keyed(adjusted), Ignore: rules,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The image changed and is reported; replicas and the annotation are ignored.
	if diff := cmp.Diff([]string{"Update Deployment.apps/prod/web spec.template.spec.containers[0].image"}, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestIgnoreRulesMatchByKindNameAndNamespace(t *testing.T) {
	live := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: live}")
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: git}")
	for _, tc := range []struct {
		rule    plan.IgnoreRule
		ignored bool
	}{
		{plan.IgnoreRule{Kind: "ConfigMap", Pointers: []string{"/data/k"}}, true},
		{plan.IgnoreRule{Kind: "ConfigMap", Name: "a", Namespace: "x", Pointers: []string{"/data/k"}}, true},
		{plan.IgnoreRule{Kind: "ConfigMap", Name: "b", Pointers: []string{"/data/k"}}, false},
		{plan.IgnoreRule{Kind: "ConfigMap", Namespace: "y", Pointers: []string{"/data/k"}}, false},
		{plan.IgnoreRule{Group: "apps", Kind: "ConfigMap", Pointers: []string{"/data/k"}}, false},
		{plan.IgnoreRule{Kind: "ConfigMap", Pointers: []string{"/data/missing", "/no/such/path", "/data/k/deeper"}}, false},
	} {
		got := plan.RespectIgnored(desired, live, []plan.IgnoreRule{tc.rule})
		v, _, _ := unstructured.NestedString(got.Object, "data", "k")
		if (v == "live") != tc.ignored {
			t.Errorf("%+v: data.k = %q, ignored want %v", tc.rule, v, tc.ignored)
		}
	}
}

func TestValidateIgnoreRules(t *testing.T) {
	if err := plan.ValidateIgnoreRules([]plan.IgnoreRule{{Kind: "X", Pointers: []string{"/spec/replicas", "/a~1b/0"}}}); err != nil {
		t.Errorf("valid pointers refused: %v", err)
	}
	if err := plan.ValidateIgnoreRules([]plan.IgnoreRule{{Kind: "X", Pointers: []string{"spec/replicas"}}}); err == nil {
		t.Error("a pointer without a leading / was accepted")
	}
}

func TestTrackMarksOwnerAndDigestIsStable(t *testing.T) {
	a := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x, labels: {app: web}}\ndata: {k: v}")
	b := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x, labels: {app: web}}\ndata: {k: v}")
	object.Track([]*unstructured.Unstructured{a}, "team/web")
	if a.GetLabels()[object.TrackingLabel] != object.TrackingLabelValue || a.GetLabels()["app"] != "web" {
		t.Errorf("labels = %v", a.GetLabels())
	}
	if object.Owner(a) != "team/web" || object.Owner(b) != "" {
		t.Errorf("owners = %q, %q", object.Owner(a), object.Owner(b))
	}
	object.Track([]*unstructured.Unstructured{b}, "team/web")
	if plan.Digest([]*unstructured.Unstructured{a}) != plan.Digest([]*unstructured.Unstructured{b}) {
		t.Error("equal objects give different digests")
	}
	b.Object["data"] = map[string]any{"k": "changed"}
	if plan.Digest([]*unstructured.Unstructured{a}) == plan.Digest([]*unstructured.Unstructured{b}) {
		t.Error("a changed object gives the same digest")
	}
}

func TestMovedObjectIsNotPrunedByItsFormerOwner(t *testing.T) {
	moved := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: x, annotations: {lockstep.dev/application: team/other}}")
	mine := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: x, annotations: {lockstep.dev/application: team/web}}")
	p, err := plan.Compute(plan.Input{
		Current:   map[object.Key]*unstructured.Unstructured{object.KeyOf(moved): moved, object.KeyOf(mine): mine},
		Inventory: []plan.InventoryEntry{{Key: object.KeyOf(moved), Version: "v1"}, {Key: object.KeyOf(mine), Version: "v1"}},
		Prune:     true, Owner: "team/web",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Prune ConfigMap/x/old"}, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func keyed(objs ...*unstructured.Unstructured) map[object.Key]*unstructured.Unstructured {
	m := map[object.Key]*unstructured.Unstructured{}
	for _, o := range objs {
		m[object.KeyOf(o)] = o
	}
	return m
}
