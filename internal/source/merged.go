package source

import (
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
)

// Bounds of MergedMessages' walk: the target's recent history it knows, and
// the merged commits it reads.
const (
	maxMergeBaseWalk = 5000
	maxMergedCommits = 200
)

// MergedMessages are the messages of the commits the snapshot's commit
// brings in when it is a merge: those reachable from its other parents and
// not from its first, newest first, at most 200. A commit that is not a
// merge brings in none. The walk is bounded: on a very long branch the
// oldest merged commits are not read.
func (s *Snapshot) MergedMessages() ([]string, error) {
	if s.repo == nil {
		return nil, nil
	}
	head, err := s.repo.repo.CommitObject(plumbing.NewHash(s.Commit.Hash))
	if err != nil || head.NumParents() < 2 {
		return nil, err
	}
	// What the first parent already had.
	known := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{head.ParentHashes[0]}
	for len(queue) > 0 && len(known) < maxMergeBaseWalk {
		h := queue[0]
		queue = queue[1:]
		if known[h] {
			continue
		}
		known[h] = true
		c, err := s.repo.repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		queue = append(queue, c.ParentHashes...)
	}
	var messages []string
	seen := map[plumbing.Hash]bool{}
	queue = append([]plumbing.Hash(nil), head.ParentHashes[1:]...)
	for len(queue) > 0 && len(messages) < maxMergedCommits {
		h := queue[0]
		queue = queue[1:]
		if known[h] || seen[h] {
			continue
		}
		seen[h] = true
		c, err := s.repo.repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		messages = append(messages, c.Message)
		queue = append(queue, c.ParentHashes...)
	}
	return messages, nil
}
