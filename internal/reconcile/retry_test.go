package reconcile

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func TestRetryBackoffDoublesCapsAndStopsAtTheLimit(t *testing.T) {
	policy := &v1.RetryPolicy{Limit: 5, Backoff: &metav1.Duration{Duration: time.Second}, MaxBackoff: &metav1.Duration{Duration: 5 * time.Second}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		got, ok := retryDelay(policy, i+1)
		if !ok || got != w {
			t.Errorf("attempt %d: %s, %v; want %s", i+1, got, ok, w)
		}
	}
	if _, ok := retryDelay(policy, 6); ok {
		t.Error("attempt 6 retried past a limit of 5")
	}
	if d, ok := retryDelay(nil, 100); !ok || d != 5*time.Minute {
		t.Errorf("defaults, attempt 100: %s, %v; want the 5m cap, retrying forever", d, ok)
	}

	app := &v1.Application{Spec: v1.ApplicationSpec{Sync: v1.SyncPolicy{Interval: &metav1.Duration{Duration: time.Minute}, Retry: policy}}}
	transient := outcome{err: errors.New("down"), transient: true}
	if d := transient.requeueAfter(app, 2); d != 2*time.Second {
		t.Errorf("second transient failure requeues after %s, want 2s", d)
	}
	if d := transient.requeueAfter(app, 6); d != time.Minute {
		t.Errorf("past the limit requeues after %s, want the interval", d)
	}
	if d := (outcome{err: errors.New("bad YAML")}).requeueAfter(app, 1); d != time.Minute {
		t.Errorf("a stalled failure requeues after %s, want the interval", d)
	}

	var f failureCounter
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	if f.record(key, true) != 1 || f.record(key, true) != 2 || f.record(key, false) != 0 || f.record(key, true) != 1 {
		t.Error("failure counter does not count consecutive failures and reset on success")
	}
}
