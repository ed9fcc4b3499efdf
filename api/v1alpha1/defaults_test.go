package v1alpha1_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func TestRetryBackoffDoublesCapsAndStopsAtTheLimit(t *testing.T) {
	policy := &v1.RetryPolicy{Limit: 5, Backoff: &metav1.Duration{Duration: time.Second}, MaxBackoff: &metav1.Duration{Duration: 5 * time.Second}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		got, ok := policy.Delay(i + 1)
		if !ok || got != w {
			t.Errorf("attempt %d: %s, %v; want %s", i+1, got, ok, w)
		}
	}
	if _, ok := policy.Delay(6); ok {
		t.Error("attempt 6 retried past a limit of 5")
	}
	var none *v1.RetryPolicy
	if d, ok := none.Delay(100); !ok || d != 5*time.Minute {
		t.Errorf("defaults, attempt 100: %s, %v; want the 5m cap, retrying forever", d, ok)
	}
}

func TestSyncPolicyDefaults(t *testing.T) {
	var s v1.SyncPolicy
	if s.IntervalOrDefault() != 3*time.Minute || s.TimeoutOrDefault() != 5*time.Minute || !s.IsAutomated() {
		t.Errorf("defaults: %s %s %v", s.IntervalOrDefault(), s.TimeoutOrDefault(), s.IsAutomated())
	}
	off := false
	s = v1.SyncPolicy{Interval: &metav1.Duration{Duration: time.Minute}, Timeout: &metav1.Duration{}, Automated: &off}
	if s.IntervalOrDefault() != time.Minute || s.TimeoutOrDefault() != 5*time.Minute || s.IsAutomated() {
		t.Errorf("set: %s %s %v", s.IntervalOrDefault(), s.TimeoutOrDefault(), s.IsAutomated())
	}
}

func TestIntervalHasAFloor(t *testing.T) {
	s := v1.SyncPolicy{Interval: &metav1.Duration{Duration: time.Millisecond}}
	if got := s.IntervalOrDefault(); got != v1.MinInterval {
		t.Errorf("1ms interval polls every %s, want %s", got, v1.MinInterval)
	}
}

func TestRetryBackoffHasAFloor(t *testing.T) {
	p := &v1.RetryPolicy{Backoff: &metav1.Duration{Duration: time.Millisecond}, MaxBackoff: &metav1.Duration{Duration: time.Millisecond}}
	if d, _ := p.Delay(1); d != v1.MinBackoff {
		t.Errorf("1ms backoff retries after %s, want %s", d, v1.MinBackoff)
	}
}
