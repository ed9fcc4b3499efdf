package source

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// maxDescentWalk bounds how many commits Descends looks at.
const maxDescentWalk = 200000

// ErrUnknownDescent is returned by Descends when the cached history is too
// short or too long to tell.
var ErrUnknownDescent = errors.New("whether it descends cannot be told from the fetched history")

// Descends reports whether the snapshot's commit is ancestor or descends from
// it: false for a rollback (an older commit pinned, a branch force-pushed
// back or to another history). It reads the history the cache holds.
func (s *Snapshot) Descends(ancestor string) (bool, error) {
	if s.repo == nil {
		return false, ErrUnknownDescent
	}
	want := plumbing.NewHash(ancestor)
	if want.IsZero() || want.String() != ancestor {
		return false, fmt.Errorf("%q is not a commit hash", ancestor)
	}
	if _, err := s.repo.repo.CommitObject(want); err != nil {
		return false, fmt.Errorf("%w: %.12s is not in this repository's history", ErrUnknownDescent, ancestor)
	}
	seen := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{plumbing.NewHash(s.Commit.Hash)}
	truncated := false
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == want {
			return true, nil
		}
		if seen[h] {
			continue
		}
		if seen[h] = true; len(seen) > maxDescentWalk {
			return false, fmt.Errorf("%w: more than %d commits", ErrUnknownDescent, maxDescentWalk)
		}
		c, err := s.repo.repo.CommitObject(h)
		switch {
		case errors.Is(err, plumbing.ErrObjectNotFound):
			truncated = true // a shallow history's edge
			continue
		case err != nil:
			return false, fmt.Errorf("reading the history of %.12s: %w", s.Commit.Hash, err)
		}
		queue = append(queue, c.ParentHashes...)
	}
	if truncated {
		return false, fmt.Errorf("%w: the cached history is shallow", ErrUnknownDescent)
	}
	return false, nil
}
