package kube

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func child(apiVersion, kind, name, ownerKind, owner string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "prod", "resourceVersion": "1",
			"annotations": map[string]any{"note": "dropped by trimChild"}},
		"spec":   map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{}}},
		"status": map[string]any{"readyReplicas": int64(2)},
	}}
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: owner, UID: "u"}})
	return u
}

// TestChildrenOf reads owned objects through the owner index of stored objects.
func TestChildrenOf(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dyn := newFakeDynamic([]runtime.Object{
		child("apps/v1", "ReplicaSet", "payments-a", "Deployment", "payments"),
		child("apps/v1", "ReplicaSet", "payments-b", "Deployment", "payments"),
		child("apps/v1", "ReplicaSet", "orders-a", "Deployment", "orders"),
		child("v1", "Pod", "payments-a-x", "ReplicaSet", "payments-a"),
	}...)
	c := NewChildren(dyn)
	defer c.Stop()

	kids, err := c.Of(ctx, "apps", "Deployment", "prod", "payments")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kids {
		names = append(names, k.GetName())
		if k.GetAnnotations() != nil {
			t.Errorf("%s kept its annotations", k.GetName())
		}
		if n, _, _ := unstructured.NestedInt64(k.Object, "status", "readyReplicas"); n != 2 {
			t.Errorf("%s: status.readyReplicas = %d, want 2", k.GetName(), n)
		}
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"payments-a", "payments-b"}, names); diff != "" {
		t.Errorf("children of the Deployment (-want +got):\n%s", diff)
	}
	pods, err := c.Of(ctx, "apps", "ReplicaSet", "prod", "payments-a")
	if err != nil || len(pods) != 1 || pods[0].GetKind() != "Pod" {
		t.Errorf("children of the ReplicaSet = %v, %v; want its Pod", pods, err)
	}
}
