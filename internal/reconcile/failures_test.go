package reconcile

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestFailureCounterCountsConsecutiveTransientFailures(t *testing.T) {
	var f failureCounter
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	if f.record(key, true) != 1 || f.record(key, true) != 2 || f.record(key, false) != 0 || f.record(key, true) != 1 {
		t.Error("failure counter does not count consecutive failures and reset on success")
	}
}
