package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
)

// journal writes the pass's records to the ledger, then logs each one and
// emits it as an Event. A record the ledger could not take is kept and written
// first on the next pass, so a full disk delays records but does not lose them
// while the controller runs.
//
// A pass that read an Application from a cache not yet showing the previous
// pass's status write (or whose status write lost a race) sees the same request
// or failure again: records the same Application version already produced are
// not written twice.
type journal struct {
	ledger  *audit.Ledger
	mu      sync.Mutex
	backlog []audit.Record
	// written remembers, per Application, the version the last records came
	// from and their fingerprints.
	written map[string]writtenFrom
}

type writtenFrom struct {
	resourceVersion string
	prints          map[string]bool
}

func (j *journal) write(ctx context.Context, app *v1.Application, recs []audit.Record) ([]audit.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	key := app.Namespace + "/" + app.Name
	memo := j.written[key]
	if memo.resourceVersion != app.ResourceVersion || memo.prints == nil {
		memo = writtenFrom{resourceVersion: app.ResourceVersion, prints: map[string]bool{}}
	}
	var fresh []audit.Record
	for _, rec := range recs {
		if p := fingerprint(rec); !memo.prints[p] {
			memo.prints[p] = true
			fresh = append(fresh, rec)
		}
	}
	if j.written == nil {
		j.written = map[string]writtenFrom{}
	}
	j.written[key] = memo
	pending := append(j.backlog, fresh...)
	if len(pending) == 0 {
		return nil, nil
	}
	written, err := j.ledger.Append(ctx, pending...)
	if err != nil {
		j.backlog = pending
		return nil, fmt.Errorf("writing %d record(s) to the audit ledger: %w", len(pending), err)
	}
	j.backlog = nil
	return written, nil
}

// fingerprint identifies what a record says, apart from when it was written.
func fingerprint(rec audit.Record) string {
	rec.Time, rec.DurationMS, rec.Health = time.Time{}, 0, ""
	b, _ := rec.Canonical()
	return string(b)
}
