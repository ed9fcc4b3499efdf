package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

var errHung = fmt.Errorf("fetching: %w", os.ErrDeadlineExceeded) // a net.Error whose Timeout() is true

func TestSlowHostsShareOneFetch(t *testing.T) {
	var s slowHosts
	ctx := context.Background()
	// Hosts not known to be slow are never held back.
	a, okA := s.enter("git.internal:443")
	b, okB := s.enter("git.internal:443")
	if !okA || !okB {
		t.Fatal("a host not known to be slow was held back")
	}
	a(howItEnded(ctx, errHung, 10*time.Second))
	b(howItEnded(ctx, errHung, 10*time.Second))
	other, ok := s.enter("other.internal:443")
	if !ok {
		t.Fatal("a host not known to be slow was held back")
	}
	other(howItEnded(ctx, errHung, 10*time.Second))

	// Two slow hosts: one fetch from either at a time; other hosts go on.
	held, ok := s.enter("git.internal:443")
	if !ok {
		t.Fatal("a slow host got no fetch at all")
	}
	if _, ok := s.enter("git.internal:443"); ok {
		t.Error("a second fetch from a slow host started while one waits")
	}
	if _, ok := s.enter("other.internal:443"); ok {
		t.Error("a fetch from another slow host started while one waits: slow hosts share one")
	}
	if done, ok := s.enter("fine.internal:443"); !ok {
		t.Error("a slow host held back a host that answers")
	} else {
		done(howItEnded(ctx, nil, time.Millisecond))
	}
	held(howItEnded(ctx, errHung, 10*time.Second))

	// An answer does not end it: a server that answers one fetch in several
	// would otherwise have every worker again each time.
	next, ok := s.enter("git.internal:443")
	if !ok {
		t.Fatal("no fetch from a slow host after the one waiting ended")
	}
	next(howItEnded(ctx, errors.New("authentication required"), 6*time.Second)) // it answered
	if _, ok := s.enter("git.internal:443"); !ok {
		t.Fatal("no fetch from a slow host that answered")
	} else if _, again := s.enter("git.internal:443"); again {
		t.Error("a host that answered once stopped being slow at once")
	}
	// slowFor after its last timeout, it is an ordinary host again.
	s.mu.Lock()
	s.hung["git.internal:443"] = time.Now().Add(-slowFor)
	s.busy = false
	s.mu.Unlock()
	mustBeOrdinary(t, &s, "git.internal:443", "a host is still held back slowFor after its last timeout")
}

// A deadline the caller set for itself (a sync timeout, a preview's request)
// says nothing of the server; the fetch's own limit does.
func TestOnlyTheFetchsOwnLimitMakesAHostSlow(t *testing.T) {
	callers, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-callers.Done()
	if end := howItEnded(callers, fmt.Errorf("listing refs: %w", context.DeadlineExceeded), 10*time.Second); end != notAsked {
		t.Errorf("a caller's own deadline: %v, want notAsked", end)
	}
	own, cancel2 := context.WithTimeoutCause(context.Background(), time.Nanosecond, ErrFetchTimedOut)
	defer cancel2()
	<-own.Done()
	if end := howItEnded(own, fmt.Errorf("listing refs: %w", context.DeadlineExceeded), 10*time.Second); end != hung {
		t.Errorf("the fetch's own limit: %v, want hung", end)
	}
}

func TestACancelledFetchSaysNothingOfItsHost(t *testing.T) {
	var s slowHosts
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done, _ := s.enter("git.internal:443")
	done(howItEnded(ctx, fmt.Errorf("fetching: %w", context.Canceled), time.Minute))
	mustBeOrdinary(t, &s, "git.internal:443", "a fetch its caller gave up on made the host slow")
}

func TestAQuickTimeoutIsNotASlowHost(t *testing.T) {
	var s slowHosts
	done, _ := s.enter("git.internal:443")
	done(howItEnded(context.Background(), errHung, time.Second))
	mustBeOrdinary(t, &s, "git.internal:443", "a timeout after 1 s made the host slow")
}

func TestHostKey(t *testing.T) {
	for raw, want := range map[string]string{
		"https://git.internal/team/app.git":           "git.internal:443",
		"https://GIT.Internal.:443/team/app.git":      "git.internal:443",
		"https://user@git.internal:8443/team/app.git": "git.internal:8443",
		"ssh://git@git.internal/team/app.git":         "git.internal:22",
		"https://[::1]:3000/team/app.git":             "[::1]:3000",
	} {
		if got := hostKey(raw); got != want {
			t.Errorf("hostKey(%q) = %q, want %q", raw, got, want)
		}
	}
}

// mustBeOrdinary fails, saying why, unless two fetches from host may run at
// once (a slow host lets one).
func mustBeOrdinary(t *testing.T, s *slowHosts, host, why string) {
	t.Helper()
	a, okA := s.enter(host)
	b, okB := s.enter(host)
	if !okA || !okB {
		t.Fatal(why)
	}
	a(answered)
	b(answered)
}
