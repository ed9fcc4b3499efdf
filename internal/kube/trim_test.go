package kube

import (
	"testing"

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

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"big": "copy"}'
  managedFields:
  - {manager: lockstep, operation: Apply, time: "2026-11-22T10:00:00Z", fieldsV1: {"f:spec": {"f:replicas": {}}}}
  - {manager: kube-controller-manager, operation: Update, subresource: status, time: "2026-11-22T10:05:00Z", fieldsV1: {"f:status": {}}}
  - {manager: kubectl-edit, operation: Update, time: "2026-11-22T10:02:00Z", fieldsV1: {"f:spec": {}}}
  - {manager: kubectl-scale, operation: Update, subresource: scale, fieldsV1: {"f:spec": {}}}
spec: {replicas: 3}
`

func TestTrimDropsFieldSetsAndLastApplied(t *testing.T) {
	out, err := trim(parse(t, deployment))
	if err != nil {
		t.Fatal(err)
	}
	u := out.(*unstructured.Unstructured)
	if _, ok := u.GetAnnotations()[lastApplied]; ok || u.GetAnnotations() != nil {
		t.Errorf("annotations after trim = %v, want none", u.GetAnnotations())
	}
	mf := u.GetManagedFields()
	if len(mf) != 4 {
		t.Fatalf("managedFields entries = %d, want all 4 kept", len(mf))
	}
	for _, f := range mf {
		if f.FieldsV1 != nil {
			t.Errorf("%s kept its field set", f.Manager)
		}
		if f.Manager == "" || (f.Time == nil && f.Subresource != "scale") {
			t.Errorf("entry lost its manager or time: %+v", f)
		}
	}
	if got, _ := trim("not an object"); got != "not an object" {
		t.Error("trim changed something that is not an object")
	}
}
