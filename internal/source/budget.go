package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"
)

// The cache keeps its repositories within a size, so fetching cannot fill
// the volume the ledger lives on: before a fetch, repositories no request has
// used for a while are dropped, least recently used first, until the cache is
// back under 90% of its size; a fetch whose pack would take it past its size
// fails (the pack is counted as it arrives, not after), and is tried once more
// after every idle repository is dropped, then fails naming the limit; and a
// repository unused for unusedFor is dropped whatever the size.

// ErrCacheFull is wrapped by the error of a fetch that would take the cache
// past its size.
var ErrCacheFull = errors.New("the repository cache is full")

const (
	// idleFor is how long a repository must go unused before it may be dropped
	// to make room: a render may still be reading a snapshot returned earlier.
	idleFor = 10 * time.Minute
	// unusedFor is how long an unused repository is kept at all.
	unusedFor = 7 * 24 * time.Hour
)

// WithMaxSize bounds the bytes the cache keeps on disk; 0 leaves it unbounded.
func WithMaxSize(bytes int64) CacheOption { return func(c *Cache) { c.maxBytes = bytes } }

// makeRoom drops idle repositories (never keep) until the cache is under 90%
// of its size (every idle one when all is set), and any repository unused for
// unusedFor. It returns how many repositories it dropped. Called holding
// keep's fetch slot.
func (c *Cache) makeRoom(keep *cachedRepo, all bool) (dropped int, err error) {
	if c.maxBytes <= 0 {
		return 0, nil
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	type entry struct {
		url string
		r   *cachedRepo
	}
	var repos []entry
	var total int64
	for url, r := range c.repos {
		repos = append(repos, entry{url, r})
		total += r.size.Load()
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].r.lastUsed.Load() < repos[j].r.lastUsed.Load() })
	for _, e := range repos {
		unused := now.Sub(time.Unix(0, e.r.lastUsed.Load()))
		over := all || total > c.maxBytes*9/10
		if e.r == keep || unused < idleFor || (!over && unused < unusedFor) {
			continue
		}
		ok, err := c.drop(e.url, e.r)
		if err != nil {
			return dropped, err
		}
		if ok {
			total -= e.r.size.Load()
			dropped++
		}
	}
	return dropped, nil
}

// drop removes a repository from the cache and its folder from the disk,
// unless a fetch of it is in progress. Called with c.mu held.
func (c *Cache) drop(url string, r *cachedRepo) (bool, error) {
	select {
	case r.fetching <- struct{}{}: // held for good: the repository is gone
	default:
		return false, nil // in use after all
	}
	delete(c.repos, url)
	c.committed.Add(-r.size.Load())
	if err := os.RemoveAll(r.dir); err != nil {
		return false, fmt.Errorf("dropping the cached repository %s: %w", r.dir, err)
	}
	return true, nil
}

// measure records the repository's size on disk, in it and in the cache's
// total.
func (c *Cache) measure(r *cachedRepo) {
	var n int64
	_ = filepath.WalkDir(r.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	c.committed.Add(n - r.size.Swap(n))
}

// fetchBudget counts one fetch's pack bytes against the whole cache's size:
// what the repositories hold (as last measured) and what every fetch in
// progress has written so far, so concurrent fetches share the room left.
type fetchBudget struct {
	c       *Cache
	written atomic.Int64
}

// add counts n more bytes, or fails when they would take the cache past its
// size.
func (b *fetchBudget) add(n int) error {
	b.written.Add(int64(n))
	if b.c.committed.Load()+b.c.inflight.Add(int64(n)) > b.c.maxBytes {
		return fmt.Errorf("%w: a fetch would take it past its size of %d MiB; raise --repository-cache-size or fetch less (a narrower ref)", ErrCacheFull, b.c.maxBytes>>20)
	}
	return nil
}

// done hands the fetch's bytes over from in progress to measured: call it
// after measuring the repository.
func (b *fetchBudget) done() { b.c.inflight.Add(-b.written.Load()) }

// budgetWriter fails a pack that would take the cache past its size, as it
// arrives.
type budgetWriter struct {
	io.WriteCloser
	budget *fetchBudget // nil: unbounded
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if w.budget != nil {
		if err := w.budget.add(len(p)); err != nil {
			return 0, err
		}
	}
	return w.WriteCloser.Write(p)
}

// removePartialPacks deletes what a fetch that failed part way left of its
// pack.
func (r *cachedRepo) removePartialPacks() {
	partial, _ := filepath.Glob(filepath.Join(r.dir, "objects", "pack", "tmp_*"))
	for _, p := range partial {
		_ = os.Remove(p)
	}
}
