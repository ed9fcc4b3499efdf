package server_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// The overview's badges come from what the Application's status says last
// happened: a refusal in its Ready condition, a revert of drift in its
// newest history entry (until Git next moves it).
func TestSummaryBadges(t *testing.T) {
	ready := func(reason string) func(*v1.Application) {
		return func(a *v1.Application) {
			meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason})
		}
	}
	newest := func(trigger string, result v1.SyncResult) func(*v1.Application) {
		return func(a *v1.Application) {
			a.Status.History = append([]v1.SyncRecord{{Trigger: trigger, Result: result}}, a.Status.History...)
		}
	}
	for _, tc := range []struct {
		name                         string
		status                       []func(*v1.Application)
		denied, unverified, reverted bool
	}{
		{"nothing yet", nil, false, false, false},
		{"policy denied", []func(*v1.Application){ready(v1.ReasonPolicyDenied)}, true, false, false},
		{"verification failed", []func(*v1.Application){ready(v1.ReasonVerificationFailed)}, false, true, false},
		{"drift reverted", []func(*v1.Application){newest(v1.TriggerGit, v1.SyncSucceeded), newest(v1.TriggerDrift, v1.SyncSucceeded)}, false, false, true},
		{"a revert that failed is no revert", []func(*v1.Application){newest(v1.TriggerDrift, v1.SyncFailed)}, false, false, false},
		{"Git moved since", []func(*v1.Application){newest(v1.TriggerDrift, v1.SyncSucceeded), newest(v1.TriggerGit, v1.SyncSucceeded)}, false, false, false},
	} {
		a := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}}
		for _, set := range tc.status {
			set(a)
		}
		s := server.Summarize(a)
		if s.PolicyDenied != tc.denied || s.VerificationFailed != tc.unverified || s.DriftReverted != tc.reverted {
			t.Errorf("%s: denied %v, unverified %v, drift reverted %v", tc.name, s.PolicyDenied, s.VerificationFailed, s.DriftReverted)
		}
	}
}
