package buildcache_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/buildcache"
)

// Callers at once build once; the others wait and find it built. A build
// that leaves the folder incomplete is an error.
func TestEnsureBuildsOnce(t *testing.T) {
	dir := t.TempDir()
	stamp := filepath.Join(dir, "done")
	complete := func() bool { _, err := os.Stat(stamp); return err == nil }
	var builds atomic.Int32
	build := func() error {
		builds.Add(1)
		time.Sleep(100 * time.Millisecond)
		return os.WriteFile(stamp, nil, 0o644)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := buildcache.Ensure(context.Background(), dir, "a thing", io.Discard, complete, build); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want once", n)
	}
	err := buildcache.Ensure(context.Background(), t.TempDir(), "a broken thing", io.Discard, func() bool { return false }, func() error { return nil })
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("an incomplete build: %v", err)
	}
}

func TestDirIsUnderTheCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if got, _ := buildcache.Dir("gitea", "v1"); got != "/cache/lockstep/gitea/v1" {
		t.Errorf("Dir = %s", got)
	}
}
