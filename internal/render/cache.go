package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Cache remembers render results by (commit, folder, options), so a periodic
// pass over an unchanged revision renders nothing. The options are hashed into
// the key, never kept: they may hold decryption keys.
type Cache struct {
	render   Func
	max      int
	maxBytes int64
	mu       sync.Mutex // guards entries and bytes
	entries  map[string]*Result
	bytes    int64 // the entries' objects' JSON size together
}

// maxCacheBytes bounds the objects the cache holds: an Application whose
// every commit renders tens of MiB cannot fill the controller's memory.
const maxCacheBytes = 256 << 20

// NewCache returns a cache of at most max results (one per Application is
// typical) and maxCacheBytes of objects, of renders by fn (Render when nil);
// when full it starts over.
func NewCache(max int, fn Func) *Cache {
	if fn == nil {
		fn = Render
	}
	return &Cache{render: fn, max: max, maxBytes: maxCacheBytes, entries: map[string]*Result{}}
}

// Render renders the snapshot of commit, reusing an earlier result of the
// same inputs. Callers get deep copies of the objects: later stages change them.
func (c *Cache) Render(ctx context.Context, fsys fs.FS, commit, dir string, opts Options) (*Result, error) {
	key, err := cacheKey(commit, dir, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cached, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		res, err := c.render(ctx, fsys, dir, opts)
		if err != nil {
			return nil, err
		}
		cached = res
		size := res.Size
		if size == 0 {
			size = sizeOf(res.Objects)
		}
		c.mu.Lock()
		if len(c.entries) >= c.max || c.bytes+size > c.maxBytes {
			c.entries, c.bytes = map[string]*Result{}, 0 // crude, but bounded
		}
		if size <= c.maxBytes {
			c.entries[key] = cached
			c.bytes += size
		}
		c.mu.Unlock()
	}
	out := &Result{Renderer: cached.Renderer, Objects: make([]*unstructured.Unstructured, len(cached.Objects)), Origins: cached.Origins, Inputs: cached.Inputs}
	for i, o := range cached.Objects {
		out.Objects[i] = o.DeepCopy()
	}
	return out, nil
}

func cacheKey(commit, dir string, opts Options) (string, error) {
	data, err := json.Marshal(struct {
		Commit, Path string
		Opts         Options
	}{commit, dir, opts})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// sizeOf is the objects' JSON size together.
func sizeOf(objs []*unstructured.Unstructured) int64 {
	var n int64
	for _, o := range objs {
		if data, err := o.MarshalJSON(); err == nil {
			n += int64(len(data))
		}
	}
	return n
}
