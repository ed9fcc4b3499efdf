package reconcile

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// A requeue put off by other work is queued again at the ordinary priority
// once its time and the grace are over; one whose pass came is not.
func TestALatePassIsQueuedAgainAtTheOrdinaryPriority(t *testing.T) {
	a := newAging()
	late, onTime := types.NamespacedName{Namespace: "ns", Name: "late"}, types.NamespacedName{Namespace: "ns", Name: "on-time"}
	for _, key := range []types.NamespacedName{late, onTime} {
		a.began(key)
		a.deadline(key, 10*time.Millisecond-agingGrace) // due at once, for the test
	}
	a.began(onTime) // its pass came
	select {
	case e := <-a.queue:
		if e.Object.GetName() != "late" {
			t.Fatalf("queued %s, want late", e.Object.GetName())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late pass was not queued again")
	}
	select {
	case e := <-a.queue:
		t.Fatalf("queued %s again, whose pass came in time", e.Object.GetName())
	case <-time.After(100 * time.Millisecond):
	}
	a.forget(late)
	if len(a.apps) != 1 {
		t.Errorf("%d Applications remembered after one was forgotten, want 1", len(a.apps))
	}
}
