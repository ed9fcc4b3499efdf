package source

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ErrHostBusy is wrapped by the error of a fetch refused because its server
// did not answer its last fetch and a fetch from such a server is already
// waiting: the request should be made again a little later, quietly (it says
// nothing about the Application's own repository).
var ErrHostBusy = errors.New("its Git server did not answer the last fetch from it, and a fetch from a server that does not answer is already waiting")

// slowHosts keeps Git servers that do not answer from holding every worker.
// A fetch waits on the network in its caller's worker; a server that accepts
// connections and never answers holds it until a timeout, and a few
// Applications on such servers would otherwise hold every worker, so that
// Applications whose servers answer wait their turn as long.
//
// A host a fetch timed out on, after slowFetch or longer, is slow for slowFor
// after that. Fetches from slow hosts, all of them together, run one at a
// time; the others are refused at once with ErrHostBusy. An answer does not
// end it sooner: a server that answers one fetch in several and hangs on the
// rest would otherwise take every worker again each time it answered.
type slowHosts struct {
	mu   sync.Mutex
	hung map[string]time.Time // when a fetch from the host last timed out slowly
	busy bool                 // a fetch from a slow host runs
}

// slowFor is how long a host stays slow after a fetch from it timed out.
const slowFor = time.Minute

// ErrFetchTimedOut is the cause a caller gives the deadline it sets on a
// fetch (context.WithTimeoutCause): the cache then tells a server that did
// not answer in that time from a caller that set itself a shorter time (a
// sync timeout, a preview's request), which says nothing of the server.
var ErrFetchTimedOut = errors.New("the fetch took longer than its time limit")

// slowFetch is how long a fetch must have waited before timing out for its
// host to count as slow: far longer than a server that answers takes.
const slowFetch = 5 * time.Second

// fetchEnd is what a fetch learned of its server.
type fetchEnd int

const (
	notAsked fetchEnd = iota // it was not asked, or its caller gave up: nothing
	answered                 // it answered, if only with an error
	hung                     // the fetch timed out after slowFetch or longer
)

// howItEnded says what a fetch that took took and ended with err, for a
// caller whose context is ctx, learned of its server.
func howItEnded(ctx context.Context, err error, took time.Duration) fetchEnd {
	ownLimit := errors.Is(context.Cause(ctx), ErrFetchTimedOut)
	switch {
	case ctx.Err() != nil && !ownLimit:
		return notAsked // the caller gave up, or its own deadline came: nothing of the server
	case err != nil && took >= slowFetch && (ownLimit || isTimeout(err)):
		return hung
	}
	return answered
}

// enter says whether a fetch from host may start now; when it may, done must
// be called with how it ended.
func (s *slowHosts) enter(host string) (done func(fetchEnd), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slow := time.Since(s.hung[host]) < slowFor
	if !slow {
		delete(s.hung, host)
	}
	if slow && s.busy {
		return nil, false
	}
	if slow {
		s.busy = true
	}
	return func(end fetchEnd) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if slow {
			s.busy = false
		}
		if end == hung {
			if s.hung == nil {
				s.hung = map[string]time.Time{}
			}
			s.hung[host] = time.Now()
		}
	}, true
}

// isTimeout says whether err is a wait that ran out: a network timeout, or a
// deadline.
func isTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// Transports that flatten errors into text keep the word.
	return strings.Contains(strings.ToLower(err.Error()), "timeout")
}

// hostKey names the server a repository URL reaches: its host name in lower
// case without a trailing dot, and its port, the scheme's default filled in.
// Never the credentials a URL may hold.
func hostKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // validateURL refused it before a fetch could start
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "ssh": "22"}[u.Scheme]
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), port)
}
