package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// Hub fans changes of Applications out to the live streams of the API
// (server-sent events). The controller publishes every change its watch
// sees; each stream keeps what its caller may see and its filter selects.
//
// It also counts every answer that stays open (live streams and followed
// logs) against the same limits: maxStreamsPerCaller for each account (a
// token's are its creator's: auth.Principal.Account), maxStreams in all.
type Hub struct {
	mu        sync.Mutex
	subs      map[*subscriber]struct{} // guarded by mu
	byAccount map[string]int           // open streams per account; guarded by mu
	open      int                      // open streams in all; guarded by mu
}

// NewHub returns a Hub with no streams.
func NewHub() *Hub { return &Hub{subs: map[*subscriber]struct{}{}, byAccount: map[string]int{}} }

// Change is one change of an Application, as streams send it.
type Change struct {
	// Type is "upsert" or "delete".
	Type        string          `json:"type"`
	Summary     AppSummary      `json:"summary"`
	Application *v1.Application `json:"-"`
}

// subscriber is one open stream. Its channel is bounded: a client that
// does not keep up is cut off (it reconnects and lists again) rather than
// holding changes for everyone.
type subscriber struct {
	account string
	ch      chan Change
	dropped bool // set under Hub.mu when the channel overflowed
}

// Stream limits.
const (
	subscriberBuffer    = 256
	maxStreamsPerCaller = 20
	heartbeat           = 15 * time.Second
)

// recheck is how often an open stream checks that its caller's credential
// still holds (logged out, revoked, password changed); a variable for tests.
var recheck = 10 * time.Second

// Publish sends a change of app to every stream; deleted says it is gone.
// It never blocks.
func (h *Hub) Publish(app *v1.Application, deleted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return // nobody watches: every status write costs nothing more
	}
	c := Change{Type: "upsert", Summary: Summarize(app), Application: app}
	if deleted {
		c.Type = "delete"
	}
	for s := range h.subs {
		select {
		case s.ch <- c:
		default:
			s.dropped = true
			h.drop(s)
		}
	}
}

// maxStreams bounds the streams open in all; a variable for tests.
var maxStreams = 1000

// take counts a stream of account's in, or answers why not: at most
// maxStreamsPerCaller each, so one person cannot take every stream, however
// many tokens they create (429), and maxStreams in all (503). h.mu is held.
func (h *Hub) take(account string) error {
	if h.byAccount[account] >= maxStreamsPerCaller {
		return &apiError{status: http.StatusTooManyRequests, err: fmt.Errorf(
			"you have %d streams open already (live updates and followed logs, your API tokens' included): close one", maxStreamsPerCaller)}
	}
	if h.open >= maxStreams {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("too many streams (live updates and followed logs) are open: try again later")}
	}
	h.byAccount[account]++
	h.open++
	return nil
}

// give counts a stream of account's out. h.mu is held.
func (h *Hub) give(account string) {
	h.open--
	if h.byAccount[account]--; h.byAccount[account] <= 0 {
		delete(h.byAccount, account)
	}
}

// hold counts a stream that takes no changes (a followed log) against the
// limits while it is open; release counts it out.
func (h *Hub) hold(account string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.take(account); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.give(account)
		})
	}, nil
}

// subscribe opens a live stream for account, within the limits of take.
func (h *Hub) subscribe(account string) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.take(account); err != nil {
		return nil, err
	}
	s := &subscriber{account: account, ch: make(chan Change, subscriberBuffer)}
	h.subs[s] = struct{}{}
	return s, nil
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(s)
}

// drop ends a stream once. h.mu is held.
func (h *Hub) drop(s *subscriber) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	close(s.ch)
	h.give(s.account)
}

// streamApplications streams changes of the Applications the caller may see
// and the filter selects: event "upsert" with the row, "delete" with it.
func (s *Server) streamApplications(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := ParseAppFilter(r.URL.Query())
	if err != nil {
		return badRequest(err)
	}
	// shown remembers which rows the client holds: one that leaves the
	// filter or the caller's sight (moved to a hidden Project) is deleted.
	shown := map[string]bool{}
	return s.stream(w, r, c, func(ch *Change) (any, bool) {
		a := ch.Application
		key := a.Namespace + "/" + a.Name
		visible := c.may(rbac.Applications, rbac.Get, AppObject(a)) && f.Matches(a, ch.Summary)
		switch {
		case visible && ch.Type == "delete":
			delete(shown, key)
			return ch.Summary, true
		case visible:
			shown[key] = true
			return ch.Summary, true
		case shown[key]:
			delete(shown, key)
			ch.Type = "delete"
			return AppSummary{Namespace: a.Namespace, Name: a.Name}, true
		}
		return nil, false
	})
}

// streamApplication streams changes of one Application: the whole
// Application on every change.
func (s *Server) streamApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	ns, name := c.app.Namespace, c.app.Name
	return s.stream(w, r, c, func(ch *Change) (any, bool) {
		a := ch.Application
		if a.Namespace != ns || a.Name != name || !c.may(rbac.Applications, rbac.Get, AppObject(a)) {
			return nil, false
		}
		app := a.DeepCopy()
		app.ManagedFields = nil
		return AppDetail{Summary: ch.Summary, Application: app}, true
	})
}

// stream writes server-sent events until the client leaves, the stream's
// time is up, the client falls behind, or its credential stops holding.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, c *call, pick func(*Change) (any, bool)) error {
	if s.d.Hub == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server streams no changes")}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("the connection cannot stream")
	}
	sub, err := s.d.Hub.subscribe(c.principal.Account())
	if err != nil {
		return err
	}
	defer s.d.Hub.unsubscribe(sub)
	checks := s.recheckCaller(r.Context(), r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n\n")
	flusher.Flush()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
		case chk, ok := <-checks:
			if !ok {
				return nil // the request ended
			}
			if chk.err != nil {
				_ = writeEvent(w, "end", map[string]string{"reason": "the credential no longer holds: " + chk.err.Error()})
				flusher.Flush()
				return nil
			}
			// The policy may have changed: what the stream shows follows it.
			c.rbac = chk.rbac
		case ch, open := <-sub.ch:
			if !open {
				_ = writeEvent(w, "reset", map[string]string{"reason": "the stream fell behind: list again, then reconnect"})
				flusher.Flush()
				return nil
			}
			data, ok := pick(&ch)
			if !ok {
				continue
			}
			if err := writeEvent(w, ch.Type, data); err != nil {
				return nil
			}
		}
		flusher.Flush()
	}
}

// callerCheck is what a recheck of an open stream's caller found: what
// they may do now, or why their credential no longer holds.
type callerCheck struct {
	rbac *rbac.Caller
	err  error
}

// recheckCaller re-authenticates the credential r came with every recheck,
// until ctx ends, and sends what its caller may do now (the policy may have
// changed) or, last, why the credential no longer holds (logged out,
// revoked, password changed, account disabled). Every answer that stays
// open (a live stream, a followed log) takes these checks, so that logout
// and revocation end it within recheck. The channel closes when it stops.
func (s *Server) recheckCaller(ctx context.Context, r *http.Request) <-chan callerCheck {
	cred, _ := credential(r)
	checks := make(chan callerCheck)
	tick := time.NewTicker(recheck)
	go func() {
		defer close(checks)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var chk callerCheck
			if p, err := s.d.Auth.Authenticate(cred); err != nil {
				chk.err = err
			} else {
				policy := s.d.Policy.Policy()
				chk.rbac = policy.Resolve(subjects(policy, p))
			}
			select {
			case checks <- chk:
			case <-ctx.Done():
				return
			}
			if chk.err != nil {
				return
			}
		}
	}()
	return checks
}

func writeEvent(w http.ResponseWriter, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
