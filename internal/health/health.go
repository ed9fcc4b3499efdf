// Package health says how healthy a live object is, and an Application with it:
// kstatus (the Kubernetes status conventions every kubectl-wait user knows) for
// most kinds, plus rules of its own where kstatus says too little (a paused
// Deployment, a suspended CronJob or Job, a LoadBalancer Service or an Ingress
// without an address, a lost volume claim) and for the delivery tools GitOps
// is paired with, read as Argo CD reads them (delivery.go, secrets.go: Argo
// Rollouts, Flagger, Sealed Secrets, External Secrets, cert-manager). Pure:
// objects in, verdicts out.
package health

import (
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status is the health of an object or an Application.
type Status string

// Health statuses, from best to worst: an Application is as healthy as its
// least healthy object.
const (
	Healthy     Status = "Healthy"
	Suspended   Status = "Suspended"
	Progressing Status = "Progressing"
	Missing     Status = "Missing"
	Degraded    Status = "Degraded"
)

var rank = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Missing: 3, Degraded: 4}

// Worse reports whether a is less healthy than b.
func Worse(a, b Status) bool { return rank[a] > rank[b] }

// Result is one object's health and why.
type Result struct {
	Status  Status
	Message string
}

// Of returns the health of a live object; nil means it does not exist.
func Of(o *unstructured.Unstructured) Result {
	if o == nil {
		return Result{Status: Missing, Message: "not found in the cluster"}
	}
	if r, ok := builtIn(o); ok {
		return r
	}
	res, err := status.Compute(o)
	if err != nil {
		return Result{Status: Degraded, Message: "cannot read its status: " + err.Error()}
	}
	return fromKstatus(res)
}

func fromKstatus(r *status.Result) Result {
	if r.Message == "" {
		r.Message = "kstatus: " + string(r.Status)
		for _, c := range r.Conditions {
			r.Message += fmt.Sprintf(", %s %s", c.Type, c.Reason)
		}
	}
	switch r.Status {
	case status.CurrentStatus:
		return Result{Status: Healthy, Message: r.Message}
	case status.FailedStatus:
		return Result{Status: Degraded, Message: r.Message}
	case status.NotFoundStatus:
		return Result{Status: Missing, Message: r.Message}
	default: // InProgress, Terminating, Unknown
		return Result{Status: Progressing, Message: r.Message}
	}
}

// Summary is an Application's health: the worst of its objects', and the first
// object that made it so.
type Summary struct {
	Status Status
	// Object names the first object at the worst status ("" when Healthy).
	Object  string
	Message string
}

// Summarize folds per-object results (by name, in the order given) into one.
func Summarize(names []string, results []Result) Summary {
	s := Summary{Status: Healthy}
	for i, r := range results {
		if Worse(r.Status, s.Status) {
			s = Summary{Status: r.Status, Object: names[i], Message: r.Message}
		}
	}
	return s
}
