package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Cache holds one bare repository per URL under its folder.
type Cache struct {
	dir      string
	now      func() time.Time
	maxBytes int64 // 0: unbounded
	// committed is what the repositories hold as last measured; inflight what
	// fetches in progress have written since (see fetchBudget).
	committed, inflight atomic.Int64

	mu    sync.Mutex             // guards repos
	repos map[string]*cachedRepo // by URL

	slow slowHosts // servers that did not answer share one fetch at a time
}

// cachedRepo is one repository of the cache.
//
// Two locks, so a slow server stalls only those who must ask it: fetching
// holds the fetch slot across network I/O, and waiting for it respects the
// caller's context; mu guards only the bookkeeping, never I/O, so a request
// that may reuse a resolution is answered while another fetch runs. Object
// reads during a fetch are made safe by lockedStorage.
type cachedRepo struct {
	fetching chan struct{} // a slot: held by the one fetch in progress
	repo     *git.Repository
	storage  *lockedStorage
	dir      string
	size     atomic.Int64 // bytes on disk, as last measured
	lastUsed atomic.Int64 // unix nanoseconds of the last request

	mu       sync.Mutex
	resolved map[resolutionKey]resolution // guarded by mu
	fetches  int                          // network fetches so far; guarded by mu
	// pushed is when the server last said the repository changed (a
	// webhook): no resolution that started before it is reused. Guarded by mu.
	pushed time.Time
}

// lockFetch takes the fetch slot, or gives up when ctx ends first.
func (r *cachedRepo) lockFetch(ctx context.Context) error {
	select {
	case r.fetching <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for another fetch of this repository: %w", context.Cause(ctx))
	}
}

func (r *cachedRepo) unlockFetch() { <-r.fetching }

// fresh returns the resolution of key if it started less than maxAge before
// asked; with maxAge 0, only one that started after asked (made while this
// request waited).
func (r *cachedRepo) fresh(key resolutionKey, asked time.Time, maxAge time.Duration) (resolution, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, known := r.resolved[key]
	return res, known && res.at.After(asked.Add(-maxAge)) && res.at.After(r.pushed)
}

// resolutionKey scopes a resolution to the credentials that made it.
type resolutionKey struct {
	ref           Ref
	credentialsID string
}

type resolution struct {
	hash plumbing.Hash
	ref  plumbing.ReferenceName
	tag  plumbing.Hash // the annotated tag object the ref points at; zero for others
	at   time.Time
}

// CacheOption configures a Cache.
type CacheOption func(*Cache)

// WithClock sets the clock that decides whether a resolution is fresh.
func WithClock(now func() time.Time) CacheOption { return func(c *Cache) { c.now = now } }

// NewCache returns a cache keeping its repositories under dir.
func NewCache(dir string, opts ...CacheOption) *Cache {
	c := &Cache{dir: dir, now: time.Now, repos: map[string]*cachedRepo{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// FetchOptions control one Fetch.
type FetchOptions struct {
	// MaxAge is how long before this request a previous resolution of the same
	// URL and ref may have started to be reused without asking the server; 0
	// reuses only a resolution that started after the request.
	MaxAge time.Duration
}

// Fetch resolves req.Ref, fetches the commit when the cache lacks it, and returns
// its snapshot.
func (c *Cache) Fetch(ctx context.Context, req Request, opts FetchOptions) (*Snapshot, error) {
	fail := func(transient bool, err error) (*Snapshot, error) {
		return nil, &Error{URL: req.URL, Ref: req.Ref, Transient: transient, Err: err}
	}
	if err := validateURL(req.URL); err != nil {
		return fail(false, err)
	}
	if err := req.Ref.validate(); err != nil {
		return fail(false, err)
	}
	asked := c.now()
	r, err := c.repo(req.URL)
	if err != nil {
		return fail(true, err)
	}
	r.lastUsed.Store(asked.UnixNano())
	key := resolutionKey{ref: req.Ref, credentialsID: req.CredentialsID}
	if req.Credentials == nil && req.CredentialsID == "" {
		key.credentialsID = req.Auth.id()
	}
	// A resolution is reused when it started less than MaxAge before this
	// request; with MaxAge 0, only one that started after the request did (it
	// waited for the fetch slot meanwhile). So a burst of requests that must
	// see what was pushed before them asks the server once or twice, not once
	// each, and a reusable resolution never waits for a fetch in progress.
	res, ok := r.fresh(key, asked, opts.MaxAge)
	if !ok {
		done, ok := c.slow.enter(hostKey(req.URL))
		if !ok {
			return fail(true, ErrHostBusy)
		}
		end := notAsked
		defer func() { done(end) }() // also when resolve panics
		if err := r.lockFetch(ctx); err != nil {
			return fail(true, err)
		}
		started := time.Now()
		var transient bool
		res, transient, err = c.resolve(ctx, r, req, key, asked, opts.MaxAge)
		r.unlockFetch()
		end = howItEnded(ctx, err, time.Since(started))
		if err != nil {
			return fail(transient, err)
		}
	}
	commit, err := r.repo.CommitObject(res.hash)
	if err != nil {
		return fail(false, fmt.Errorf("reading commit %s: %w", res.hash, err))
	}
	tree, err := commit.Tree()
	if err != nil {
		return fail(false, fmt.Errorf("reading the tree of %s: %w", res.hash, err))
	}
	meta, err := commitFromObject(commit, res.ref)
	if err != nil {
		return fail(false, err)
	}
	snap := &Snapshot{Commit: meta, Files: newTreeFS(tree, commit.Committer.When), Resolved: res.at, repo: r}
	if !res.tag.IsZero() {
		tag, err := r.repo.TagObject(res.tag)
		if err != nil {
			return fail(false, fmt.Errorf("reading tag %s: %w", res.ref, err))
		}
		if snap.Tag, err = tagFromObject(tag); err != nil {
			return fail(false, err)
		}
	}
	return snap, nil
}

// Outdate says the repository at url changed at the given time (a push
// event): every request after it asks the server again, however fresh a
// resolution it would otherwise reuse. The requests of many Applications
// still share one look, made after the push. A repository not in the cache
// has nothing to outdate.
func (c *Cache) Outdate(url string, at time.Time) {
	c.mu.Lock()
	r := c.repos[url]
	c.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.After(r.pushed) {
		r.pushed = at
	}
}

// Fetches returns how many times the repository at url was fetched from its
// server; for tests and metrics.
func (c *Cache) Fetches(url string) int {
	c.mu.Lock()
	r := c.repos[url]
	c.mu.Unlock()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches
}

// resolve asks the server unless a fetch that finished while this request
// waited for the slot made a fresh enough resolution. Called holding the
// fetch slot; transient says whether retrying the same request may succeed.
func (c *Cache) resolve(ctx context.Context, r *cachedRepo, req Request, key resolutionKey, asked time.Time, maxAge time.Duration) (res resolution, transient bool, err error) {
	if res, ok := r.fresh(key, asked, maxAge); ok {
		return res, false, nil
	}
	started := c.now()
	auth, err := req.credentials(ctx)
	if err != nil {
		return resolution{}, true, err
	}
	req.Auth = auth
	t, err := newTransport(req)
	if err != nil {
		return resolution{}, false, err
	}
	defer t.close()
	for attempt := 0; ; attempt++ {
		dropped, roomErr := c.makeRoom(r, attempt > 0)
		if roomErr != nil {
			return resolution{}, true, roomErr
		}
		if attempt > 0 && dropped == 0 {
			break // nothing more to make room with: the error stands
		}
		var budget *fetchBudget
		if c.maxBytes > 0 {
			budget = &fetchBudget{c: c}
		}
		r.storage.setBudget(budget)
		res, err = r.resolveAndFetch(ctx, req, t)
		r.storage.setBudget(nil)
		if err != nil {
			r.removePartialPacks() // go-git leaves a failed fetch's pack behind
		}
		if budget != nil {
			budget.done() // before measuring: counted once, a moment too little rather than twice
		}
		c.measure(r)
		if !errors.Is(err, ErrCacheFull) || attempt > 0 {
			break
		}
	}
	if err != nil {
		return resolution{}, isTransient(err) && !errors.Is(err, ErrCacheFull), err
	}
	res.at = started
	r.mu.Lock()
	r.resolved[key] = res
	r.mu.Unlock()
	return res, false, nil
}

// repo returns the cached repository for url, creating it on first use.
func (c *Cache) repo(rawURL string) (*cachedRepo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.repos[rawURL]; ok {
		r.lastUsed.Store(c.now().UnixNano()) // under c.mu: makeRoom must not drop it now
		return r, nil
	}
	sum := sha256.Sum256([]byte(rawURL))
	dir := filepath.Join(c.dir, hex.EncodeToString(sum[:12]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A bare repository whose object reads are safe during a fetch (see
	// lockedStorage).
	storage := newLockedStorage(filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault()))
	repo, err := git.Open(storage, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(storage, nil)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{rawURL}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening cache %s: %w", dir, err)
	}
	r := &cachedRepo{fetching: make(chan struct{}, 1), repo: repo, storage: storage, dir: dir, resolved: map[resolutionKey]resolution{}}
	r.lastUsed.Store(c.now().UnixNano())
	c.measure(r)
	c.repos[rawURL] = r
	return r, nil
}

// validateURL accepts https:// and ssh:// URLs only: no local paths, no file://,
// no plain http (credentials would cross the network in clear text).
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// Not url.Parse's words: they quote the URL or pieces of it, which
		// may be a password.
		return errors.New("invalid repository URL: it does not parse (a password in it, or a port that is not a number?)")
	}
	switch u.Scheme {
	case "https", "ssh":
	default:
		return fmt.Errorf("repository URL must start with https:// or ssh://, not %q", u.Scheme+"://")
	}
	if u.Host == "" {
		return errors.New("repository URL has no host")
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return errors.New("repository URL must not hold a password; put credentials in the secretRef Secret")
		}
	}
	return nil
}
