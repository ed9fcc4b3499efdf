package reconcile

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// failureCounter counts consecutive transient failures per Application, for the
// retry backoff. It lives in memory: after a restart, retries start over.
type failureCounter struct {
	mu     sync.Mutex // guards counts
	counts map[types.NamespacedName]int
}

// record notes the outcome of a pass and returns the number of consecutive
// transient failures so far (0 after anything else).
func (f *failureCounter) record(app types.NamespacedName, transientFailure bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !transientFailure {
		delete(f.counts, app)
		return 0
	}
	if f.counts == nil {
		f.counts = map[types.NamespacedName]int{}
	}
	f.counts[app]++
	return f.counts[app]
}
