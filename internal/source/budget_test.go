package source_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// randomFile is n bytes that do not compress.
func randomFile(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// A fetch that would take the cache past its size fails naming the limit,
// while the pack arrives (nothing of it is kept); a repository nobody has used
// for a while is dropped to make room for another.
func TestTheRepositoryCacheKeepsWithinItsSize(t *testing.T) {
	f := newFixture(t)
	f.commit(t, map[string]string{"big.txt": randomFile(2 << 20)}, "two megabytes")
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cache := source.NewCache(dir, source.WithMaxSize(1<<20), source.WithClock(clock))
	_, err := cache.Fetch(t.Context(), f.req, source.FetchOptions{})
	var se *source.Error
	if !errors.Is(err, source.ErrCacheFull) || !errors.As(err, &se) || se.Transient {
		t.Fatalf("fetching 2 MiB into a 1 MiB cache: got %v, want a permanent ErrCacheFull", err)
	}
	if n := dirSize(t, dir); n > 512<<10 {
		t.Errorf("the failed fetch left %d bytes in the cache", n)
	}

	// Room for one repository of ~1 MiB (a pack of 2 MiB of hex) at a time.
	cache = source.NewCache(dir, source.WithMaxSize(2<<20), source.WithClock(clock))
	if _, err := cache.Fetch(t.Context(), f.req, source.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := f.server.CreateRepo("other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(gitserverCommit(map[string]string{"big.txt": randomFile(2 << 20)})); err != nil {
		t.Fatal(err)
	}
	req := f.req
	req.URL = f.server.HTTPSURL("other")
	if _, err := cache.Fetch(t.Context(), req, source.FetchOptions{}); !errors.Is(err, source.ErrCacheFull) {
		t.Fatalf("a second repository while the first is in use: got %v, want ErrCacheFull", err)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute) // the first is idle now
	mu.Unlock()
	if _, err := cache.Fetch(t.Context(), req, source.FetchOptions{}); err != nil {
		t.Fatalf("with the first idle: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the cache holds %d repositories, want the second only", len(entries))
	}
	if n := dirSize(t, dir); n > 2<<20 {
		t.Errorf("the cache holds %d bytes, over its size", n)
	}
}

func gitserverCommit(files map[string]string) gitserver.CommitOptions {
	data := map[string][]byte{}
	for k, v := range files {
		data[k] = []byte(v)
	}
	return gitserver.CommitOptions{Files: data, Message: "files", Author: gitserver.Person{Name: "Ada", Email: "ada@example.com"}}
}

// Concurrent fetches share the room left: two repositories of ~1 MiB each,
// fetched at once into a cache with room for one, cannot both be kept.
func TestConcurrentFetchesShareTheRoomLeft(t *testing.T) {
	f := newFixture(t)
	f.commit(t, map[string]string{"big.txt": randomFile(2 << 20)}, "two megabytes")
	other, err := f.server.CreateRepo("other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(gitserverCommit(map[string]string{"big.txt": randomFile(2 << 20)})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cache := source.NewCache(dir, source.WithMaxSize(3<<19)) // 1.5 MiB
	second := f.req
	second.URL = f.server.HTTPSURL("other")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, req := range []source.Request{f.req, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cache.Fetch(t.Context(), req, source.FetchOptions{})
		}()
	}
	wg.Wait()
	if errs[0] == nil && errs[1] == nil {
		t.Error("both fetched: the cache holds twice its room")
	}
	if n := dirSize(t, dir); n > 3<<19 {
		t.Errorf("the cache holds %d bytes, over its size of %d", n, 3<<19)
	}
}
