package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// builtIn covers what kstatus reads differently from what users of a GitOps tool
// expect, and the custom resources of the delivery tools (deliveryRules), whose
// status kstatus reads wrongly or not at all. ok is false when kstatus should
// decide.
func builtIn(o *unstructured.Unstructured) (Result, bool) {
	gk := o.GroupVersionKind().GroupKind()
	if rule, ok := deliveryRules[gk]; ok {
		return rule(o), true
	}
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
		return job(o), true
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

// job is Healthy once complete and Degraded once failed; kstatus calls a running
// Job current, but a sync waiting on a Job (a hook, a wave) needs it finished.
func job(o *unstructured.Unstructured) Result {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			continue
		}
		msg, _ := m["message"].(string)
		switch m["type"] {
		case "Complete", "SuccessCriteriaMet":
			return Result{Status: Healthy, Message: "completed"}
		case "Failed", "FailureTarget":
			reason, _ := m["reason"].(string)
			return Result{Status: Degraded, Message: fmt.Sprintf("failed: %s %s", reason, msg)}
		}
	}
	if suspended, _, _ := unstructured.NestedBool(o.Object, "spec", "suspend"); suspended {
		return Result{Status: Suspended, Message: "the Job is suspended (spec.suspend)"}
	}
	active, _, _ := unstructured.NestedInt64(o.Object, "status", "active")
	succeeded, _, _ := unstructured.NestedInt64(o.Object, "status", "succeeded")
	failed, _, _ := unstructured.NestedInt64(o.Object, "status", "failed")
	return Result{Status: Progressing, Message: fmt.Sprintf("running: %d active, %d succeeded, %d failed", active, succeeded, failed)}
}

// Completion says whether a run-to-completion object (a Job or a Pod, as hooks
// are) has finished: done once it has, failed when it did not succeed, with why.
func Completion(o *unstructured.Unstructured) (done, failed bool, message string) {
	if o == nil {
		return false, false, "not created yet"
	}
	switch o.GetKind() {
	case "Job":
		r := job(o)
		switch r.Status {
		case Healthy:
			return true, false, r.Message
		case Degraded:
			return true, true, r.Message
		}
		return false, false, r.Message
	case "Pod":
		phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
		msg, _, _ := unstructured.NestedString(o.Object, "status", "message")
		switch phase {
		case "Succeeded":
			return true, false, "succeeded"
		case "Failed":
			return true, true, strings.TrimSpace("failed " + msg)
		}
		return false, false, "phase " + phase
	}
	return true, false, "" // anything else is done once created
}
