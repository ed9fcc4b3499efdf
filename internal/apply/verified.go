package apply

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

// verified remembers, per object, a desired manifest and the live object that
// was known to match it: the response of its apply, or a live object whose
// server-side dry run changed nothing. While both are the same, applying again
// would change nothing, so no dry run is needed: that is what makes a converged
// reconcile cost no request. Anything else about the object (a new manifest, an
// edit, a controller's write) misses, and the server is asked again.
type verified struct {
	mu sync.Mutex
	m  map[plan.Key]fingerprint
}

type fingerprint struct {
	desired, live [sha256.Size]byte
}

func (v *verified) remember(k plan.Key, desired, live *unstructured.Unstructured) {
	d, ok1 := digest(desired.Object)
	l, ok2 := digest(plan.Comparable(live).Object)
	if !ok1 || !ok2 {
		return
	}
	fp := fingerprint{desired: d, live: l}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[plan.Key]fingerprint{}
	}
	v.m[k] = fp
}

func (v *verified) forget(k plan.Key) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, k)
}

// matches reports whether live is still what desired was verified against.
func (v *verified) matches(k plan.Key, desired, live *unstructured.Unstructured) bool {
	v.mu.Lock()
	fp, ok := v.m[k]
	v.mu.Unlock()
	if !ok {
		return false
	}
	d, ok1 := digest(desired.Object)
	l, ok2 := digest(plan.Comparable(live).Object)
	return ok1 && ok2 && fp.desired == d && fp.live == l
}

// knownLive reports whether live is the object last verified under its key,
// whatever the desired manifest: a watch event carrying it changes nothing.
func (v *verified) knownLive(k plan.Key, live *unstructured.Unstructured) bool {
	v.mu.Lock()
	fp, ok := v.m[k]
	v.mu.Unlock()
	if !ok {
		return false
	}
	l, ok := digest(plan.Comparable(live).Object)
	return ok && fp.live == l
}

func (v *verified) has(k plan.Key) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.m[k]
	return ok
}

// digest hashes a JSON-like value; encoding/json sorts map keys, so equal values
// give equal digests.
func digest(v any) ([sha256.Size]byte, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(b), true
}
