package kube

import (
	"context"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

var deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func newFakeDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		deployments:   "DeploymentList",
		ChildKinds[0]: "ReplicaSetList",
		ChildKinds[1]: "PodList",
		ChildKinds[2]: "JobList",
	}, objs...)
}

// TestCacheThroughInformer runs the informer machinery on stored objects: the
// first list, a Get, an update and a delete reaching the handler decoded.
func TestCacheThroughInformer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	live := liveDeployment(t)
	live.SetManagedFields(nil)
	dyn := newFakeDynamic(live.DeepCopy())
	events := make(chan Event, 10)
	c := NewCache(dyn, func(e Event) { events <- e })
	defer c.Stop()
	mapping := &meta.RESTMapping{Resource: deployments, Scope: meta.RESTScopeNamespace}

	got, err := c.Get(ctx, mapping, "prod", "payments")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.GetResourceVersion() != "48213577" {
		t.Fatalf("Get = %v, want the Deployment", got)
	}
	got.SetLabels(nil) // the caller's copy
	if again, _ := c.Get(ctx, mapping, "prod", "payments"); again.GetLabels()[object.TrackingLabel] != "true" {
		t.Errorf("changing what Get returned changed the cache: labels %v", again.GetLabels())
	}
	if has, err := c.Has(ctx, mapping, "prod", "payments"); !has || err != nil {
		t.Errorf("Has(payments) = %v, %v", has, err)
	}
	if has, err := c.Has(ctx, mapping, "prod", "nothing"); has || err != nil {
		t.Errorf("Has(nothing) = %v, %v", has, err)
	}
	if missing, err := c.Get(ctx, mapping, "prod", "nothing"); missing != nil || err != nil {
		t.Errorf("Get of a missing object = %v, %v; want nil, nil", missing, err)
	}

	changed := live.DeepCopy()
	changed.SetResourceVersion("48213578")
	_ = unstructured.SetNestedField(changed.Object, int64(5), "spec", "replicas")
	if _, err := dyn.Resource(deployments).Namespace("prod").Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := next(ctx, t, events)
	if n, _, _ := unstructured.NestedInt64(e.Object.Object, "spec", "replicas"); e.Deleted || n != 5 {
		t.Errorf("update event: deleted %v, replicas %d; want an update to 5", e.Deleted, n)
	}

	if err := dyn.Resource(deployments).Namespace("prod").Delete(ctx, "payments", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := next(ctx, t, events); !e.Deleted || e.Object.GetName() != "payments" {
		t.Errorf("delete event: deleted %v, name %q", e.Deleted, e.Object.GetName())
	}
}

func next(ctx context.Context, t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-ctx.Done():
		t.Fatal("no event")
		return Event{}
	}
}
