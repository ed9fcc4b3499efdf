package apply

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// verified remembers, per object, a desired manifest and the live object that
// was known to match it: the response of its apply, or a live object whose
// server-side dry run changed nothing. While the manifest is the same and the
// live object still holds the same values in the fields the manifest sets,
// applying again would change nothing, so no dry run is needed: that is what
// makes a converged reconcile cost no request. Fields the manifest does not set
// (a revision annotation, replicas owned by an autoscaler, defaults, status)
// are not looked at: server-side apply leaves them alone, so they cannot be
// drift. Anything else (a new manifest, a changed or removed field, a list that
// changed length) misses, and the server is asked again.
type verified struct {
	mu sync.Mutex
	m  map[object.Key]verifiedEntry
}

type verifiedEntry struct {
	// shape is shapeOf the manifest as JSON: one entry per managed object is
	// kept, and a decoded manifest takes several times its JSON's memory.
	shape         []byte
	desiredDigest [sha256.Size]byte
	liveDigest    [sha256.Size]byte
}

func (v *verified) remember(k object.Key, desired, live *unstructured.Unstructured) {
	// The live digest is taken against the shape as knownLive will read it
	// back, so that the two always agree.
	data, err := json.Marshal(shapeOf(desired))
	if err != nil {
		return
	}
	var shape any
	if err := json.Unmarshal(data, &shape); err != nil {
		return
	}
	d, ok1 := digest(desired.Object)
	l, ok2 := digest(project(live.Object, shape))
	if !ok1 || !ok2 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[object.Key]verifiedEntry{}
	}
	v.m[k] = verifiedEntry{shape: data, desiredDigest: d, liveDigest: l}
}

func (v *verified) forget(k object.Key) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, k)
}

func (v *verified) entry(k object.Key) (verifiedEntry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	return e, ok
}

// matches reports whether desired is the verified manifest and live still holds
// the verified values in the fields it sets.
func (v *verified) matches(k object.Key, desired, live *unstructured.Unstructured) bool {
	e, ok := v.entry(k)
	if !ok {
		return false
	}
	d, ok1 := digest(desired.Object)
	l, ok2 := digest(project(live.Object, shapeOf(desired)))
	return ok1 && ok2 && e.desiredDigest == d && e.liveDigest == l
}

// knownLive reports whether live still holds the verified values in the fields
// the verified manifest sets: a watch event carrying it changes nothing.
func (v *verified) knownLive(k object.Key, live *unstructured.Unstructured) bool {
	e, ok := v.entry(k)
	if !ok {
		return false
	}
	var shape any // only its keys and lengths count: numbers decoding as float64 do not matter
	if err := json.Unmarshal(e.shape, &shape); err != nil {
		return false
	}
	l, ok := digest(project(live.Object, shape))
	return ok && e.liveDigest == l
}

func (v *verified) has(k object.Key) bool {
	_, ok := v.entry(k)
	return ok
}

// shapeOf is the shape of the live fields a manifest sets. A Secret's
// stringData is never stored: the server writes it into data, so data's keys
// are where its values live (without this, an edit to a Secret written with
// stringData would never be seen as drift).
func shapeOf(desired *unstructured.Unstructured) any {
	sd, ok := desired.Object["stringData"].(map[string]any)
	if !ok || desired.GetKind() != "Secret" || desired.GroupVersionKind().Group != "" {
		return desired.Object
	}
	shape := make(map[string]any, len(desired.Object))
	for k, v := range desired.Object {
		shape[k] = v
	}
	delete(shape, "stringData")
	data := map[string]any{}
	if d, ok := desired.Object["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k := range sd {
		data[k] = ""
	}
	shape["data"] = data
	return shape
}

// project returns the part of live in the shape of desired: for maps, only the
// keys desired sets (absent ones stay absent); for lists, every item projected
// on the desired item at the same index, and the live length, so an added or
// removed item always misses; scalars as live has them.
func project(live, desired any) any {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return live
		}
		out := make(map[string]any, len(d))
		for k, dv := range d {
			if lv, ok := l[k]; ok {
				out[k] = project(lv, dv)
			}
		}
		return out
	case []any:
		l, ok := live.([]any)
		if !ok {
			return live
		}
		out := make([]any, 0, len(l)+1)
		out = append(out, len(l))
		for i, lv := range l {
			if i < len(d) {
				out = append(out, project(lv, d[i]))
			} else {
				out = append(out, lv)
			}
		}
		return out
	default:
		return live
	}
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
