package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The defaults of an Application's sync policy. The CRD's +kubebuilder:default
// markers say the same for objects the API server stores; these serve objects
// built in code (tests, `lockstep diff` of a spec not yet applied) and are the one
// place the controller reads them from.
const (
	// MinInterval bounds how often an Application may ask its Git server; the
	// CRD refuses less, and the controller never polls faster.
	MinInterval     = 10 * time.Second
	DefaultInterval = 3 * time.Minute
	DefaultTimeout  = 5 * time.Minute
	DefaultBackoff  = 5 * time.Second
	// MinBackoff keeps a failing Application (a Git server that refuses
	// connections) from retrying in a loop: the CRD refuses less, and Delay
	// never waits less.
	MinBackoff        = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// IntervalOrDefault is how often the source is checked for new commits, never
// less than MinInterval.
func (s SyncPolicy) IntervalOrDefault() time.Duration {
	return max(orDefault(s.Interval, DefaultInterval), MinInterval)
}

// TimeoutOrDefault bounds one sync.
func (s SyncPolicy) TimeoutOrDefault() time.Duration {
	return orDefault(s.Timeout, DefaultTimeout)
}

// IsAutomated says whether changes are applied without a manual sync (the
// default).
func (s SyncPolicy) IsAutomated() bool {
	return s.Automated == nil || *s.Automated
}

// Delay is the exponential backoff before retry number attempt (1 for the first
// retry): doubling from Backoff, capped at MaxBackoff. ok is false past Limit.
// A nil policy retries forever with the defaults.
func (p *RetryPolicy) Delay(attempt int) (delay time.Duration, ok bool) {
	first, ceiling, limit := DefaultBackoff, DefaultMaxBackoff, 0
	if p != nil {
		first, ceiling, limit = orDefault(p.Backoff, first), orDefault(p.MaxBackoff, ceiling), int(p.Limit)
	}
	if limit > 0 && attempt > limit {
		return 0, false
	}
	delay = first
	for i := 1; i < attempt && delay < ceiling; i++ {
		delay *= 2
	}
	return max(min(delay, ceiling), MinBackoff), true
}

func orDefault(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}
