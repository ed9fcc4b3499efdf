package reconcile

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// superseded remembers, per Application, the resourceVersion its last status
// write replaced. A pass that reads that version again reads a cache that has
// not yet seen the write: acting on it would compare the cluster with a stale
// lastAppliedDigest, take a manual edit for a new Git revision, and apply over
// it as a sync instead of recording drift. Such a pass waits for the cache.
type superseded struct {
	mu       sync.Mutex
	versions map[types.NamespacedName]string
}

func (s *superseded) is(app types.NamespacedName, resourceVersion string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[app] == resourceVersion
}

func (s *superseded) mark(app types.NamespacedName, resourceVersion string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.versions == nil {
		s.versions = map[types.NamespacedName]string{}
	}
	s.versions[app] = resourceVersion
}

func (s *superseded) forget(app types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.versions, app)
}
