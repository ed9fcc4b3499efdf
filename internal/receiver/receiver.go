// Package receiver turns the push events of Git servers (webhooks) into
// refreshes of the Applications they concern, so a commit is applied in
// under a second instead of at the next interval. Each Receiver object gets
// an unguessable path on the API server (Reconciler); Handler checks the
// request's signature with the Receiver's secret (package webhook), picks the
// Applications the push concerns (Targets) and has the controller look at
// them now (Refresher).
//
// A push is only a hint: the refreshed Applications fetch from Git as
// always, and nothing in the payload is applied. The worst a forged or
// replayed event can do is make Lockstep look at Git sooner, which the rate
// limits bound.
package receiver

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// Refresher is the controller: reconcile.Reconciler.
type Refresher interface {
	// Inputs are the folders an Application's last render read.
	Inputs(types.NamespacedName) ([]string, bool)
	// Refresh has apps, which follow the repository at url, look at it now.
	Refresh(ctx context.Context, url string, at time.Time, apps []*v1.Application) error
}

// Limits on what one Receiver may cause: a Git server sends a few events a
// second at most, even for an organisation's every repository.
const (
	perReceiverRate  = 10 // events a second, sustained
	perReceiverBurst = 50
	// unknownRate bounds the requests to paths no Receiver has (a scanner),
	// and with them the log lines they cause.
	unknownRate  = 5
	unknownBurst = 20
	// readingBodies bounds the bodies read at once, each up to
	// webhook.MaxBody: for all Receivers, for each namespace's, for each.
	readingBodies       = 16
	readingPerNamespace = 4
	readingPerReceiver  = 2
	// refusalLogs bounds the log lines of one Receiver's refusals.
	refusalLogs      = 1
	refusalLogsBurst = 5
	// secretRecheck is how often a signature that does not match may send
	// us to read the Secret again (it may have been rotated).
	secretRecheck = 10 * time.Second
)

// receivers are the Receivers the Reconciler has seen, by path: all the
// Handler needs, in memory, so that a request costs the API server nothing.
type receivers struct {
	mu     sync.Mutex
	byPath map[string]*entry
	byKey  map[types.NamespacedName]string // path of each Receiver
}

// entry is one Receiver as the Handler needs it.
type entry struct {
	key          types.NamespacedName
	provider     webhook.Provider
	suspend      bool
	limiter      *rate.Limiter // its signed events
	logs         *rate.Limiter // its refusals' log lines
	unsignedLogs *rate.Limiter // those of requests without a valid signature
	reading      chan struct{} // its bodies being read

	mu       sync.Mutex
	secret   []byte    // nil: the Secret is missing or has no token
	secretAt time.Time // when it was read
}

func newReceivers() *receivers {
	return &receivers{byPath: map[string]*entry{}, byKey: map[types.NamespacedName]string{}}
}

// set records a Receiver at path; its limiter survives updates.
func (rs *receivers) set(path string, e *entry) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if old, ok := rs.byKey[e.key]; ok {
		if prev := rs.byPath[old]; prev != nil && old == path {
			e.limiter, e.logs, e.unsignedLogs, e.reading = prev.limiter, prev.logs, prev.unsignedLogs, prev.reading
		}
		delete(rs.byPath, old)
	}
	if e.limiter == nil {
		e.limiter = rate.NewLimiter(perReceiverRate, perReceiverBurst)
		e.logs = rate.NewLimiter(refusalLogs, refusalLogsBurst)
		e.unsignedLogs = rate.NewLimiter(refusalLogs, refusalLogsBurst)
		e.reading = make(chan struct{}, readingPerReceiver)
	}
	rs.byPath[path] = e
	rs.byKey[e.key] = path
}

func (rs *receivers) remove(key types.NamespacedName) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if path, ok := rs.byKey[key]; ok {
		delete(rs.byPath, path)
		delete(rs.byKey, key)
	}
}

func (rs *receivers) at(path string) *entry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.byPath[path]
}

func (e *entry) token() ([]byte, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.secret, e.secretAt
}

// claimRecheck says whether the caller should read the Secret again: it
// was last read secretRecheck ago or more. One caller at a time is told so.
func (e *entry) claimRecheck(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.secretAt) < secretRecheck {
		return false
	}
	e.secretAt = now
	return true
}

func (e *entry) setToken(secret []byte, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secret, e.secretAt = secret, at
}
