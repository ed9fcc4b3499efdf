package server

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Verification is the answer to GET /api/v1/verify: the report of one walk
// of the whole chain, and when that walk began.
type Verification struct {
	audit.Report
	VerifiedAt time.Time `json:"verifiedAt"`
}

// LedgerHead is where a ledger's chain stands: its newest record and the
// first record its newest retention cut kept (0 when none). A verification
// of the chain holds while it has not moved.
type LedgerHead struct {
	Seq   uint64
	Hash  string
	CutAt uint64
}

// headReader is a ledger that can say cheaply where its chain stands
// (Service); verifications of one that cannot are shared only while they run.
type headReader interface {
	Head(ctx context.Context) (LedgerHead, error)
}

const (
	// verifyMaxAge bounds how long a report is reused while the head stays:
	// editing an old record in the database does not move the head, and
	// must not stay unseen for long.
	verifyMaxAge = 5 * time.Minute
	// maxVerifyKeys bounds the reports kept, one per trusted key asked for.
	maxVerifyKeys = 4
)

// verifier walks the ledger's chain at most once at a time for every
// caller: each walk costs CPU in proportion to the whole ledger, and the
// Audit page asks for one on every view. A caller arriving while a walk with
// the same key runs takes its report; one arriving after it takes the
// report while the head has not moved.
type verifier struct {
	mu      sync.Mutex
	last    map[string]verified // the newest report per trusted key; guarded by mu
	running *walk               // the walk in progress, nil when none; guarded by mu
}

// verified is a report and the head it was made at.
type verified struct {
	head LedgerHead
	v    Verification
}

// walk is one verification in progress; v and err are set before done is
// closed.
type walk struct {
	key  string
	done chan struct{}
	v    Verification
	err  error
}

// verify returns a report of the chain of ledger checked against trusted
// (nil: the key the ledger names), walking it only when no report of the
// head as it stands now is at hand.
func (vr *verifier) verify(ctx context.Context, ledger API, trusted ed25519.PublicKey, clock func() time.Time) (Verification, error) {
	key := string(trusted)
	for {
		hr, known := ledger.(headReader)
		var head LedgerHead
		if known {
			var err error
			if head, err = hr.Head(ctx); err != nil {
				return Verification{}, err
			}
		}
		vr.mu.Lock()
		if last, ok := vr.last[key]; ok && known && last.head == head && clock().Sub(last.v.VerifiedAt) < verifyMaxAge {
			vr.mu.Unlock()
			return last.v, nil
		}
		if w := vr.running; w != nil {
			vr.mu.Unlock()
			select {
			case <-w.done:
			case <-ctx.Done():
				return Verification{}, ctx.Err()
			}
			if w.key == key && w.err == nil {
				return w.v, nil
			}
			continue // another key's walk, or one that failed: look again
		}
		w := &walk{key: key, done: make(chan struct{})}
		vr.running = w
		vr.mu.Unlock()

		start := clock()
		rep, err := ledger.Verify(ctx, trusted)
		w.v, w.err = Verification{Report: rep, VerifiedAt: start}, err

		vr.mu.Lock()
		vr.running = nil
		if err == nil && known {
			if _, ok := vr.last[key]; !ok && len(vr.last) >= maxVerifyKeys {
				clear(vr.last)
			}
			if vr.last == nil {
				vr.last = map[string]verified{}
			}
			vr.last[key] = verified{head: head, v: w.v}
		}
		vr.mu.Unlock()
		close(w.done)
		return w.v, err
	}
}
