package pass

import (
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// RequeueAfter is when the Application's next pass is due (0: none, until
// something changes): its interval; sooner after a transient failure (the retry
// backoff for attempt, the number of consecutive transient failures so far) or
// while sync.wait waits for health. next is the status the pass leads to.
func RequeueAfter(p *Pass, next *v1.ApplicationStatus, attempt int) time.Duration {
	sync := p.Application.Spec.Sync
	interval := sync.IntervalOrDefault()
	switch {
	case p.Suspended, p.Gated && p.Err != nil:
		return 0 // a change of the spec wakes it
	case p.Synced() && sync.Wait:
		// Health changes arrive from the watch; this wakes the wait at its deadline.
		if left := waitLeft(p, next.History); left > 0 {
			return min(interval, left)
		}
	case p.Err != nil && p.Err.Transient:
		if delay, ok := sync.Retry.Delay(attempt); ok {
			return min(interval, delay)
		}
	}
	return interval
}
