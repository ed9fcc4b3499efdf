package release

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Previous names, as a rollback target, the revision applied before the
// one applied now.
const Previous = "previous"

// Target resolves what a rollback of app is asked to return to: Previous, a
// full commit hash (any commit of the followed branch's history), or the
// first 7 or more hex digits of a revision app applied recently (its
// status history). A revision never applied is given in full, knowingly.
//
// Previous is the newest revision applied successfully before the newest
// one tried: when a bad revision failed halfway, the one before it, not the
// one before the last success.
func Target(app *v1.Application, to string) (string, error) {
	to = strings.ToLower(strings.TrimSpace(to))
	newest := ""
	if len(app.Status.History) > 0 {
		newest = app.Status.History[0].Revision
	} else if r := app.Status.LastAppliedRevision; r != nil {
		newest = r.Commit
	}
	var applied []string // newest first, distinct
	for _, h := range app.Status.History {
		if h.Result == v1.SyncSucceeded && h.Revision != "" && !slices.Contains(applied, h.Revision) {
			applied = append(applied, h.Revision)
		}
	}
	if r := app.Status.LastAppliedRevision; r != nil && r.Commit != "" && !slices.Contains(applied, r.Commit) {
		applied = append(applied, r.Commit)
	}
	switch {
	case to == Previous:
		for _, rev := range applied {
			if rev != newest {
				return rev, nil
			}
		}
		return "", fmt.Errorf("%s/%s has applied no revision before %s that its history remembers: name one (lockstep history %s/%s)", app.Namespace, app.Name, short(newest), app.Namespace, app.Name)
	case len(to) == 40 && isHex(to):
		return to, nil
	case len(to) < 7 || !isHex(to):
		return "", fmt.Errorf("--to %q: name a commit (its first 7 or more hex digits, or all 40) or %q", to, Previous)
	}
	var found []string
	for _, rev := range applied {
		if strings.HasPrefix(rev, to) {
			found = append(found, rev)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%s is not a revision %s/%s applied recently (lockstep history %s/%s): give the full 40-character hash to return to an older one", to, app.Namespace, app.Name, app.Namespace, app.Name)
	}
	return "", fmt.Errorf("%s names %d revisions %s/%s applied: give more of the hash", to, len(found), app.Namespace, app.Name)
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
