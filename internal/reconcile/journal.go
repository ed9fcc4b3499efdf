package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// journal writes the pass's records to the ledger, then logs each one and
// emits it as an Event. A record the ledger could not take is kept and written
// first on the next pass, so a full disk delays records but does not lose them
// while the controller runs.
//
// A pass that read an Application from a cache not yet showing the previous
// pass's status write (or whose status write lost a race) sees the same request
// or failure again: records the same Application version already produced are
// not written twice, nor, until a pass's status is stored, records the passes
// since produced (a lost status write is retried on a newer version when
// someone else wrote the Application meanwhile, an annotation say).
type journal struct {
	ledger  *audit.Ledger
	mu      sync.Mutex
	backlog []audit.Record
	// failing is true from a write the ledger refused until one it takes.
	failing bool
	// answered is when the ledger last took a write or answered a probe.
	answered time.Time
	// flights counts writes and probes under way; settled is closed when
	// the count drops to 0. While the ledger is failing, ready waits for
	// them: a backlog taken out to be written is not there to see, and a
	// probe's answer must not let a sync apply while that write may fail.
	flights int
	settled chan struct{}
	// written remembers, per Application, the version the last records came
	// from and their fingerprints.
	written map[string]writtenFrom
}

type writtenFrom struct {
	resourceVersion string
	prints          map[string]bool
	// stored is true once a pass's status write went through after them.
	stored bool
}

func (j *journal) write(ctx context.Context, app *v1.Application, recs []audit.Record) ([]audit.Record, error) {
	if j.ledger == nil {
		return nil, nil // no ledger: nothing is recorded
	}
	j.depart() // from here until it is written or refused, the backlog is out of sight
	defer j.land()
	taken := j.take(app, recs)
	pending, err := j.withoutRecorded(ctx, taken)
	if err != nil {
		j.refused(taken)
		return nil, fmt.Errorf("%w: reading it: %w", errLedgerUnavailable, err)
	}
	if len(pending) == 0 {
		return nil, nil
	}
	// Not under j.mu: passes that write at the same time must reach the
	// ledger together, for its group commit to batch them.
	started := time.Now()
	written, err := j.ledger.Append(ctx, pending...)
	ledgerAppendSeconds.Observe(time.Since(started).Seconds())
	if err != nil {
		j.refused(pending)
		return nil, fmt.Errorf("%w: %d record(s) wait: %w", errLedgerUnavailable, len(pending), err)
	}
	j.took()
	countRecords(written)
	return written, nil
}

// errLedgerUnavailable wraps every failure to write the ledger.
var errLedgerUnavailable = errors.New("the audit ledger refused the records")

// refused keeps records the ledger did not take, to be written first next.
func (j *journal) refused(pending []audit.Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.backlog = append(pending, j.backlog...)
	j.failing = true
	ledgerWriteFailures.Inc()
	ledgerBacklog.Set(float64(len(j.backlog)))
}

func (j *journal) took() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failing && j.flights > 0 { // wake those waiting for the writes under way: no need now
		close(j.settled)
		j.settled = make(chan struct{})
	}
	j.failing, j.answered = false, time.Now()
	ledgerBacklog.Set(float64(len(j.backlog)))
}

// ledgerProbeAge is how long an answer from the ledger vouches for it: a sync
// starting later asks it first, so a ledger that went away (its database
// down) stops syncs before one applies, not after.
const ledgerProbeAge = time.Second

// ledgerProbeTimeout bounds that question: a database behind a dropped
// connection does not hold the worker.
const ledgerProbeTimeout = 5 * time.Second

// ready says whether the ledger takes records, so that a sync may apply:
// nil when nothing waits; otherwise the waiting records are written first
// (and returned), or the error says why they could not be.
func (j *journal) ready(ctx context.Context) ([]audit.Record, error) {
	if j.ledger == nil {
		return nil, nil
	}
	j.mu.Lock()
	deadline := time.Now().Add(ledgerProbeTimeout)
	for j.failing && j.flights > 0 {
		settled := j.settled
		j.mu.Unlock()
		if err := waitFor(ctx, settled, deadline); err != nil {
			return nil, fmt.Errorf("%w: waiting for records being written: %w", errLedgerUnavailable, err)
		}
		j.mu.Lock()
	}
	pending, failing, answered := j.backlog, j.failing, j.answered
	fresh := len(pending) == 0 && !failing && time.Since(answered) < ledgerProbeAge
	if !fresh {
		j.backlog = nil
		j.departLocked()
		defer j.land()
	}
	j.mu.Unlock()
	if fresh {
		return nil, nil
	}
	if len(pending) == 0 {
		// It refused before, or has not answered for a while: its head
		// answers if it is there.
		probe, cancel := context.WithTimeout(ctx, ledgerProbeTimeout)
		_, _, err := j.ledger.Store().Head(probe)
		cancel()
		if err != nil {
			if ctx.Err() == nil { // not the pass's own end
				j.refused(nil)
			}
			return nil, fmt.Errorf("%w: %w", errLedgerUnavailable, err)
		}
		j.took()
		return nil, nil
	}
	written, err := j.ledger.Append(ctx, pending...)
	if err != nil {
		j.refused(pending)
		return nil, fmt.Errorf("%w: %d record(s) wait: %w", errLedgerUnavailable, len(pending), err)
	}
	j.took()
	countRecords(written)
	return written, nil
}

// depart and land count a write or probe of the ledger under way (flights).
func (j *journal) depart() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.departLocked()
}

func (j *journal) departLocked() {
	if j.flights == 0 {
		j.settled = make(chan struct{})
	}
	j.flights++
}

func (j *journal) land() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.flights--; j.flights == 0 {
		close(j.settled)
	}
}

// waitFor waits until done is closed, the context ends, or the deadline (as
// long as a probe may take: writes that take longer are as good as refused).
func waitFor(ctx context.Context, done <-chan struct{}, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("still under way after %s", ledgerProbeTimeout)
	}
}

// take returns the backlog and the records of recs not already written from
// this version of the Application, and empties the backlog.
func (j *journal) take(app *v1.Application, recs []audit.Record) []audit.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	key := app.Namespace + "/" + app.Name
	memo := j.written[key]
	if memo.prints == nil || (memo.resourceVersion != app.ResourceVersion && memo.stored) {
		memo = writtenFrom{prints: map[string]bool{}}
	}
	memo.resourceVersion, memo.stored = app.ResourceVersion, false
	pending := j.backlog
	j.backlog = nil
	for _, rec := range recs {
		if p := fingerprint(rec); !memo.prints[p] {
			memo.prints[p] = true
			pending = append(pending, rec)
		}
	}
	if j.written == nil {
		j.written = map[string]writtenFrom{}
	}
	j.written[key] = memo
	return pending
}

// statusStored notes that the Application's status now reflects the records
// written for it: a later version may say the same again and be recorded.
func (j *journal) statusStored(app *v1.Application) {
	j.mu.Lock()
	defer j.mu.Unlock()
	key := app.Namespace + "/" + app.Name
	if memo, ok := j.written[key]; ok {
		memo.stored = true
		j.written[key] = memo
	}
}

// fingerprint identifies what a record says, apart from when it was written.
func fingerprint(rec audit.Record) string {
	rec.Time, rec.DurationMS, rec.Health = time.Time{}, 0, ""
	b, _ := rec.Canonical()
	return string(b)
}

// withoutRecorded drops the catch-up Sync records (pass.CaughtUpMessage) of
// syncs already recorded: in the ledger (the controller stopped after writing
// a sync's records and before its status) or among the records about to be
// written (a backlog kept while the ledger could not take them). The
// ledger's newest successful Sync record of the Application says whether it
// holds it;
// when it cannot be asked, nothing is written now (the records wait in the
// backlog), rather than perhaps twice.
func (j *journal) withoutRecorded(ctx context.Context, recs []audit.Record) ([]audit.Record, error) {
	out := recs[:0:0]
	for _, r := range recs {
		if r.Event != audit.EventSync || r.Message != pass.CaughtUpMessage {
			out = append(out, r)
			continue
		}
		if slices.ContainsFunc(recs, func(o audit.Record) bool {
			return o.Event == audit.EventSync && o.Result == audit.Succeeded && o.Application == r.Application && o.Revision == r.Revision && o.Message != pass.CaughtUpMessage
		}) {
			continue
		}
		recorded, err := j.lastSucceeded(ctx, r.Application)
		if err != nil {
			return nil, err
		}
		if recorded == r.Revision {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// lastSucceeded is the revision of the Application's newest successful Sync
// record, among its newest 100 ("" when none): failures recorded after it
// (the API server down while the status was written) do not hide it.
func (j *journal) lastSucceeded(ctx context.Context, app string) (string, error) {
	recs, err := j.ledger.Store().Query(ctx, audit.Filter{Application: app, Events: []audit.Event{audit.EventSync}, Limit: 100})
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		if r.Result == audit.Succeeded {
			return r.Revision, nil
		}
	}
	return "", nil
}
