package apply

import (
	"testing"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func parse(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

const verifiedDesired = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {lockstep.dev/managed: "true"}}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: web:1, args: [a, b]}]
`

const verifiedLive = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  resourceVersion: "10"
  labels: {lockstep.dev/managed: "true"}
  annotations: {deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  template:
    spec:
      containers: [{name: web, image: web:1, args: [a, b], imagePullPolicy: IfNotPresent}]
status: {replicas: 2}
`

func TestVerifiedLooksOnlyAtFieldsTheManifestSets(t *testing.T) {
	desired, live := parse(t, verifiedDesired), parse(t, verifiedLive)
	var v verified
	k := object.KeyOf(desired)
	v.remember(k, desired, live)

	for _, tc := range []struct {
		name    string
		edit    func(u *unstructured.Unstructured)
		matches bool
	}{
		{"unchanged", func(*unstructured.Unstructured) {}, true},
		{"status, resourceVersion and a controller's annotation", func(u *unstructured.Unstructured) {
			u.Object["status"] = map[string]any{"replicas": int64(3)}
			u.SetResourceVersion("11")
			u.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "2"})
		}, true},
		{"a defaulted field the manifest does not set", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, int64(300), "spec", "progressDeadlineSeconds")
		}, true},
		{"a managed field", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
		}, false},
		{"a managed field removed", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "replicas")
		}, false},
		{"a managed label removed", func(u *unstructured.Unstructured) { u.SetLabels(nil) }, false},
		{"an item added to a list", func(u *unstructured.Unstructured) {
			c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			c0 := c[0].(map[string]any)
			c0["args"] = []any{"a", "b", "c"}
			_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
		}, false},
		{"a field inside a list item", func(u *unstructured.Unstructured) {
			c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			c[0].(map[string]any)["image"] = "web:2"
			_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
		}, false},
	} {
		changed := parse(t, verifiedLive)
		tc.edit(changed)
		if got := v.matches(k, desired, changed); got != tc.matches {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.matches)
		}
		if got := v.knownLive(k, changed); got != tc.matches {
			t.Errorf("%s: knownLive = %v, want %v", tc.name, got, tc.matches)
		}
	}

	// A new manifest never matches, whatever the live object.
	next := parse(t, verifiedDesired)
	_ = unstructured.SetNestedField(next.Object, int64(3), "spec", "replicas")
	if v.matches(k, next, live) {
		t.Error("a changed manifest matched")
	}
	v.forget(k)
	if v.matches(k, desired, live) || v.has(k) {
		t.Error("a forgotten object still matches")
	}
}

// A Secret written with stringData is stored as data: an edit of data is drift.
func TestVerifiedSeesAnEditedSecretWrittenWithStringData(t *testing.T) {
	desired := parse(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: one}\n")
	live := parse(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\ndata: {password: b25l, other: eA==}\ntype: Opaque\n")
	var v verified
	k := object.KeyOf(desired)
	v.remember(k, desired, live)
	if !v.matches(k, desired, live) {
		t.Fatal("the unchanged Secret does not match")
	}
	other := live.DeepCopy()
	_ = unstructured.SetNestedField(other.Object, "eQ==", "data", "other")
	if !v.matches(k, desired, other) {
		t.Error("a key the manifest does not set counted as drift")
	}
	edited := live.DeepCopy()
	_ = unstructured.SetNestedField(edited.Object, "dHdv", "data", "password")
	if v.matches(k, desired, edited) || v.knownLive(k, edited) {
		t.Error("an edited password still matches: drift on a stringData Secret would go unseen")
	}
}
