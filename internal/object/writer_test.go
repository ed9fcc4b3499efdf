package object

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

func TestLastWriterSkipsLockstepAndStatus(t *testing.T) {
	w, ok := LastWriter(parse(t, deployment), "lockstep")
	if !ok || w.Manager != "kubectl-edit" || w.Time != "2026-11-22T10:02:00Z" {
		t.Errorf("LastWriter = %+v, %v; want kubectl-edit at 10:02 (status writes and lockstep's own skipped)", w, ok)
	}
	// The API server records no time for scale writes: such a writer is named when
	// it is the only one.
	scaled := parse(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  managedFields:
  - {manager: lockstep, operation: Apply, time: "2026-11-22T10:00:00Z"}
  - {manager: kubectl-scale, operation: Update, subresource: scale}
`)
	if w, ok := LastWriter(scaled, "lockstep"); !ok || w.Manager != "kubectl-scale" || w.Subresource != "scale" || w.Time != "" {
		t.Errorf("LastWriter of a scaled object = %+v, %v", w, ok)
	}
	if _, ok := LastWriter(parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}"), "lockstep"); ok {
		t.Error("an object without managedFields has a last writer")
	}
}

func TestKeyOfAGeneratedNameHasAStar(t *testing.T) {
	named := parse(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: prod}")
	generated := parse(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-, namespace: prod}")
	if got := KeyOf(named).String(); got != "Job.batch/prod/migrate" {
		t.Errorf("named: %s", got)
	}
	if got := KeyOf(generated).String(); got != "Job.batch/prod/migrate-*" {
		t.Errorf("generated: %s", got)
	}
}
