package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// builtIn covers what kstatus reads differently from what users of a GitOps tool
// expect. ok is false when kstatus should decide.
func builtIn(o *unstructured.Unstructured) (Result, bool) {
	gk := o.GroupVersionKind().GroupKind()
	switch gk.Group + "/" + gk.Kind {
	case "apps/Deployment":
		if paused, _, _ := unstructured.NestedBool(o.Object, "spec", "paused"); paused {
			return Result{Status: Suspended, Message: "the rollout is paused (spec.paused)"}, true
		}
	case "batch/CronJob":
		if suspended, _, _ := unstructured.NestedBool(o.Object, "spec", "suspend"); suspended {
			return Result{Status: Suspended, Message: "the CronJob is suspended (spec.suspend)"}, true
		}
		return Result{Status: Healthy, Message: "scheduled"}, true
	case "batch/Job":
		if suspended, _, _ := unstructured.NestedBool(o.Object, "spec", "suspend"); suspended {
			return Result{Status: Suspended, Message: "the Job is suspended (spec.suspend)"}, true
		}
	case "/PersistentVolumeClaim":
		if phase, _, _ := unstructured.NestedString(o.Object, "status", "phase"); phase == "Lost" {
			return Result{Status: Degraded, Message: "the claim lost its volume (status.phase Lost)"}, true
		}
	case "/Service":
		if t, _, _ := unstructured.NestedString(o.Object, "spec", "type"); t == "LoadBalancer" {
			return loadBalanced(o, "the load balancer")
		}
	case "networking.k8s.io/Ingress":
		return loadBalanced(o, "the ingress controller")
	}
	return Result{}, false
}

// loadBalanced is Healthy once status.loadBalancer.ingress holds an address.
func loadBalanced(o *unstructured.Unstructured, who string) (Result, bool) {
	ingress, _, _ := unstructured.NestedSlice(o.Object, "status", "loadBalancer", "ingress")
	for _, i := range ingress {
		m, _ := i.(map[string]any)
		if ip, _ := m["ip"].(string); ip != "" {
			return Result{Status: Healthy, Message: "reachable at " + ip}, true
		}
		if host, _ := m["hostname"].(string); host != "" {
			return Result{Status: Healthy, Message: "reachable at " + host}, true
		}
	}
	return Result{Status: Progressing, Message: fmt.Sprintf("waiting for %s to assign an address (status.loadBalancer.ingress)", who)}, true
}
