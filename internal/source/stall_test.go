package source_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// stallingProxy forwards TCP connections to a Git server until told to stall;
// then it accepts connections and never answers, as a server that hangs.
type stallingProxy struct {
	ln      net.Listener
	stall   atomic.Bool
	stalled chan struct{} // one value per stalled connection
	mu      sync.Mutex
	conns   []net.Conn
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{ln: ln, stalled: make(chan struct{}, 16)}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			if p.stall.Load() {
				p.stalled <- struct{}{}
				continue
			}
			go p.forward(c, target)
		}
	}()
	return p
}

func (p *stallingProxy) forward(c net.Conn, target string) {
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// A server that hangs stalls only the requests that must ask it: while one
// fetch of a repository waits on it, a request that may reuse the last
// resolution is answered at once, and one that must wait gives up when its
// context ends (before, both waited on a mutex held across the network I/O).
func TestAHangingFetchBlocksNeitherReadersNorCancelledWaiters(t *testing.T) {
	f := newFixture(t)
	head := f.commit(t, map[string]string{"app/a.yaml": "a: 1\n"}, "first")
	target := strings.TrimSuffix(strings.TrimPrefix(f.req.URL, "https://"), "/config.git")
	proxy := startStallingProxy(t, target)
	req := f.req
	req.URL = "https://" + proxy.ln.Addr().String() + "/config.git"
	if got := f.fetch(t, req, 0).Commit.Hash; got != head {
		t.Fatalf("first fetch got %s, want %s", got, head)
	}

	proxy.stall.Store(true)
	hungCtx, cancelHung := context.WithCancel(t.Context())
	hung := make(chan error, 1)
	go func() {
		_, err := f.cache.Fetch(hungCtx, req, source.FetchOptions{MaxAge: 0})
		hung <- err
	}()
	select {
	case <-proxy.stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the second fetch never reached the server")
	}

	start := time.Now()
	snap, err := f.cache.Fetch(t.Context(), req, source.FetchOptions{MaxAge: time.Hour})
	if err != nil || snap.Commit.Hash != head {
		t.Fatalf("a fetch that may reuse the resolution: %v", err)
	}
	if _, err := snap.Files.Open("app/a.yaml"); err != nil {
		t.Errorf("reading the reused snapshot during a hung fetch: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a reusable resolution waited %v for the hung fetch", d)
	}

	waitCtx, cancelWait := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelWait()
	start = time.Now()
	_, err = f.cache.Fetch(waitCtx, req, source.FetchOptions{MaxAge: 0})
	var se *source.Error
	if !errors.As(err, &se) || !se.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a waiter whose context ended: got %v, want a transient source error wrapping the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a waiter whose context ended returned after %v", d)
	}

	cancelHung()
	select {
	case err := <-hung:
		if err == nil {
			t.Error("the hung fetch succeeded after its context was cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Error("the hung fetch did not return after its context was cancelled")
	}
}
