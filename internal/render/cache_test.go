package render_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/engine"
)

func TestCacheRendersOnceAndHandsOutCopies(t *testing.T) {
	fsys := fstest.MapFS{"app/cm.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n")}}
	c := render.NewCache(2, engine.Render)
	first, err := c.Render(t.Context(), fsys, "abc", "app", render.Options{Namespace: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	first.Objects[0].SetNamespace("changed-by-a-later-stage")
	// The same inputs come from the cache even when the files are gone: no second render.
	again, err := c.Render(t.Context(), fstest.MapFS{}, "abc", "app", render.Options{Namespace: "prod"})
	if err != nil {
		t.Fatalf("second render of the same inputs: %v", err)
	}
	if again.Objects[0].GetNamespace() != "" {
		t.Errorf("a caller's change reached the cache: namespace %q", again.Objects[0].GetNamespace())
	}
	// Another commit, folder or option is another entry.
	if _, err := c.Render(t.Context(), fstest.MapFS{}, "def", "app", render.Options{Namespace: "prod"}); err == nil {
		t.Error("another commit was answered from the cache")
	}
	if _, err := c.Render(t.Context(), fstest.MapFS{}, "abc", "app", render.Options{Namespace: "stage"}); err == nil {
		t.Error("other options were answered from the cache")
	}
}

// The cache holds at most maxCacheBytes of objects: a render larger than
// that is not kept, so each of an Application's commits cannot add tens of
// MiB to the controller's memory.
func TestTheRenderCacheIsBoundedInBytes(t *testing.T) {
	calls := 0
	big := func(ctx context.Context, fsys fs.FS, dir string, opts render.Options) (*render.Result, error) {
		calls++
		return &render.Result{Renderer: render.Plain, Size: 300 << 20}, nil
	}
	c := render.NewCache(100, big)
	for range 2 {
		if _, err := c.Render(t.Context(), nil, "abc", "app", render.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Errorf("a 300 MiB render was kept: rendered %d times for 2 asks", calls)
	}
}
