package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// FuzzFilterFromQuery feeds the raw query of GET /api/v1/records, read as the
// handler reads it (r.URL.Query()), to FilterFromQuery. Invariants: an
// accepted filter respects the limits, and the query the client sends for it
// (FilterQuery) reads back as the same filter.
func FuzzFilterFromQuery(f *testing.F) {
	for _, q := range []string{
		"app=team%2Fweb&kind=sync,drift&kind=prune&since=24h&until=2026-11-20&limit=50&order=oldest",
		"object=Deployment.apps%2Fprod%2Fweb&author=alice&before=1234",
		"object=ConfigMap%2Fsettings&since=2026-11-20T10:00:00%2B02:00&until=7d",
		"since=0000-01-01T00:00:00%2B01:00",
		"until=9999-12-31T23:00:00-02:00",
		"limit=0",
		"kind=SYNC&kind=",
		"app=a/b&app=c/d",
		"unknown=1",
		"author=%00",
		"since=90m&order=newest",
		"a=1;b=2&%zz",
	} {
		f.Add(q)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	sameTime := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q := (&url.URL{RawQuery: rawQuery}).Query()
		filter, err := server.FilterFromQuery(q, now)
		if err != nil {
			return
		}
		if filter.Limit < 0 || filter.Limit > audit.MaxLimit {
			t.Fatalf("limit %d accepted", filter.Limit)
		}
		if filter.Application != "" && strings.Count(filter.Application, "/") != 1 {
			t.Fatalf("application %q accepted", filter.Application)
		}
		sent := server.FilterQuery(filter)
		again, err := server.FilterFromQuery(sent, now)
		if err != nil {
			t.Fatalf("the query %q, sent for the filter read from %q, is refused: %v", sent.Encode(), rawQuery, err)
		}
		if diff := cmp.Diff(filter, again, sameTime); diff != "" {
			t.Fatalf("the filter read from %q, sent as %q, reads back differently (-first +again):\n%s", rawQuery, sent.Encode(), diff)
		}
	})
}
