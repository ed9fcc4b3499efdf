package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// maxCachedRenders bounds the cache; one entry per Application is typical.
const maxCachedRenders = 2048

// renderCache remembers render results by (commit, path, options), so a periodic
// reconcile of an unchanged revision renders nothing. Callers get deep copies:
// later stages set namespaces on the objects.
type renderCache struct {
	mu      sync.Mutex // guards entries
	entries map[string]*render.Result
}

func (c *renderCache) render(ctx context.Context, snap *source.Snapshot, app *v1.Application, opts render.Options) (*render.Result, error) {
	key, err := renderKey(snap.Commit.Hash, app.Spec.Source.Path, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cached, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		res, err := render.Render(ctx, snap.Files, app.Spec.Source.Path, opts)
		if err != nil {
			return nil, err
		}
		cached = res
		c.mu.Lock()
		if c.entries == nil || len(c.entries) >= maxCachedRenders {
			c.entries = map[string]*render.Result{} // crude, but bounded
		}
		c.entries[key] = cached
		c.mu.Unlock()
	}
	out := &render.Result{Renderer: cached.Renderer, Objects: make([]*unstructured.Unstructured, len(cached.Objects)), Origins: cached.Origins}
	for i, o := range cached.Objects {
		out.Objects[i] = o.DeepCopy()
	}
	return out, nil
}

func renderKey(commit, path string, opts render.Options) (string, error) {
	data, err := json.Marshal(struct {
		Commit, Path string
		Opts         render.Options
	}{commit, path, opts})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
