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
	render  Func
	max     int
	mu      sync.Mutex // guards entries
	entries map[string]*Result
}

// NewCache returns a cache of at most max results (one per Application is
// typical) of renders by fn (Render when nil); when full it starts over.
func NewCache(max int, fn Func) *Cache {
	if fn == nil {
		fn = Render
	}
	return &Cache{render: fn, max: max, entries: map[string]*Result{}}
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
		c.mu.Lock()
		if len(c.entries) >= c.max {
			c.entries = map[string]*Result{} // crude, but bounded
		}
		c.entries[key] = cached
		c.mu.Unlock()
	}
	out := &Result{Renderer: cached.Renderer, Objects: make([]*unstructured.Unstructured, len(cached.Objects)), Origins: cached.Origins}
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
