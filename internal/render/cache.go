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
// the key, never kept: they may hold decryption keys. The objects are kept as
// JSON, not decoded: a decoded object takes several times its JSON's memory,
// and one per Application is cached.
type Cache struct {
	render   Func
	max      int
	maxBytes int64
	mu       sync.Mutex // guards entries and bytes
	entries  map[string]*cached
	bytes    int64 // the entries' objects' JSON size together
}

// cached is a Result with its objects as JSON.
type cached struct {
	renderer Renderer
	objects  [][]byte
	origins  []Origin
	inputs   []string
}

// maxCacheBytes bounds the objects the cache holds: an Application whose
// every commit renders tens of MiB cannot fill the controller's memory.
const maxCacheBytes = 256 << 20

// NewCache returns a cache of at most max results (one per Application is
// typical) and maxCacheBytes of objects, of renders by fn; when full it
// starts over.
func NewCache(max int, fn Func) *Cache {
	return &Cache{render: fn, max: max, maxBytes: maxCacheBytes, entries: map[string]*cached{}}
}

// Render renders the snapshot of commit, reusing an earlier result of the
// same inputs. Callers get objects of their own: later stages change them.
func (c *Cache) Render(ctx context.Context, fsys fs.FS, commit, dir string, opts Options) (*Result, error) {
	key, err := cacheKey(commit, dir, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	entry, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		res, err := c.render(ctx, fsys, dir, opts)
		if err != nil {
			return nil, err
		}
		if entry, err = encode(res); err != nil {
			return nil, err
		}
		size := res.Size // what the renderer counted, if it did
		if size == 0 {
			for _, o := range entry.objects {
				size += int64(len(o))
			}
		}
		c.mu.Lock()
		if len(c.entries) >= c.max || c.bytes+size > c.maxBytes {
			c.entries, c.bytes = map[string]*cached{}, 0 // crude, but bounded
		}
		if size <= c.maxBytes {
			c.entries[key] = entry
			c.bytes += size
		}
		c.mu.Unlock()
		return res, nil // the cache keeps its own bytes: res is the caller's
	}
	return entry.decode()
}

func encode(res *Result) (*cached, error) {
	e := &cached{renderer: res.Renderer, objects: make([][]byte, len(res.Objects)), origins: res.Origins, inputs: res.Inputs}
	for i, o := range res.Objects {
		data, err := o.MarshalJSON()
		if err != nil {
			return nil, &Error{File: res.Origins[i].File, Err: err}
		}
		e.objects[i] = data
	}
	return e, nil
}

func (e *cached) decode() (*Result, error) {
	out := &Result{Renderer: e.renderer, Objects: make([]*unstructured.Unstructured, len(e.objects)), Origins: e.origins, Inputs: e.inputs}
	for i, data := range e.objects {
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			return nil, &Error{File: e.origins[i].File, Err: err}
		}
		out.Objects[i] = o
		out.Size += int64(len(data))
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
