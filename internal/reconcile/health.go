package reconcile

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// healthOf evaluates every desired object of the plan from the freshest state
// the pass holds: what the server returned for objects it just applied, what it
// observed for the others.
func healthOf(p plan.Plan, obs apply.Observation, cs apply.ChangeSet) (map[object.Key]health.Result, health.Summary) {
	byKey := map[object.Key]health.Result{}
	var names []string
	var results []health.Result
	for _, s := range p.Steps {
		if s.Action == plan.Prune || s.Action == plan.Keep {
			continue
		}
		var live *unstructured.Unstructured
		if o, ok := cs.Live[s.Key]; ok {
			live = o
		} else {
			live = obs.Current[s.Key]
		}
		r := health.Of(live)
		byKey[s.Key] = r
		names = append(names, s.Key.String())
		results = append(results, r)
	}
	return byKey, health.Summarize(names, results)
}

// setHealth writes the Application's and each resource's health into the status.
func (s *status) setHealth(byKey map[object.Key]health.Result, sum health.Summary) {
	s.app.Status.Health = &v1.HealthStatus{Status: string(sum.Status), Object: sum.Object, Message: truncate(sum.Message, 512)}
	for i := range s.app.Status.Resources {
		rs := &s.app.Status.Resources[i]
		r, ok := byKey[object.Key{Group: rs.Group, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}]
		if !ok {
			rs.Health, rs.HealthMessage = "", ""
			continue
		}
		rs.Health, rs.HealthMessage = string(r.Status), ""
		if r.Status != health.Healthy {
			rs.HealthMessage = truncate(r.Message, 256)
		}
	}
}

// waitHealthy applies sync.wait to a synced Application: Ready only when every
// object is Healthy (or deliberately Suspended). A Degraded object fails the
// sync at once; a Progressing or Missing one is waited for until timeout after
// the apply. It returns how much longer to wait, 0 when the wait is over.
func (s *status) waitHealthy(sum health.Summary, timeout time.Duration) time.Duration {
	switch sum.Status {
	case health.Healthy, health.Suspended:
		return 0
	case health.Degraded:
		s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonHealthCheckFailed,
			truncate(fmt.Sprintf("%s is Degraded: %s", sum.Object, sum.Message), 1024))
		return 0
	}
	appliedAt := s.now.Time
	if h := s.app.Status.History; len(h) > 0 && h[0].Result == v1.SyncSucceeded && h[0].Revision == s.app.Status.Sync.Revision {
		appliedAt = h[0].FinishedAt.Time
	}
	left := timeout - s.now.Sub(appliedAt)
	if left <= 0 {
		s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonHealthCheckFailed,
			truncate(fmt.Sprintf("%s is still %s %s after the apply: %s", sum.Object, sum.Status, timeout, sum.Message), 1024))
		return 0
	}
	s.set(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonProgressing,
		truncate(fmt.Sprintf("waiting for %s to be Healthy (%s: %s)", sum.Object, sum.Status, sum.Message), 1024))
	s.set(v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonProgressing, "waiting for health")
	return left
}
