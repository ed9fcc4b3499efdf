package gitwrite

import (
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// LogEntry is one commit of a Log.
type LogEntry struct {
	Hash    string `json:"hash"`
	Subject string `json:"subject"`
	Author  string `json:"author"`
}

// maxLog bounds a Log: a commit message lists what it reverts, not a
// thousand commits.
const maxLog = 100

// Resolve is rev's full hash (rev: a full hash, or a unique prefix of at
// least 7 hex digits, of a commit in the branch's history).
func (t *Tree) Resolve(rev string) (string, error) {
	c, err := t.commit(rev)
	if err != nil {
		return "", err
	}
	return c.Hash.String(), nil
}

// Log lists the commits after since, up to the head, that changed a file in
// one of dirs, newest first, at most 100 (more says how many were left out
// as its second result). since must be in the head's history: a revision
// from another branch is an error, not an empty list.
func (t *Tree) Log(since string, dirs ...string) (entries []LogEntry, more int, err error) {
	base, err := t.commit(since)
	if err != nil {
		return nil, 0, err
	}
	if t.head.IsZero() {
		return nil, 0, t.unknown(since)
	}
	head, err := t.repo.CommitObject(t.head)
	if err != nil {
		return nil, 0, err
	}
	if ok, err := base.IsAncestor(head); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%s is not in the history of %s's head %s", base.Hash.String()[:12], t.branch, t.head.String()[:12])
		}
		return nil, 0, err
	}
	prefixes := make([]string, len(dirs))
	for i, d := range dirs {
		clean, err := repoPath(d)
		if err != nil {
			return nil, 0, err
		}
		prefixes[i] = strings.TrimSuffix(path.Clean(clean), "/") + "/"
	}
	// What since's history holds is not after it, whichever way a merge
	// reaches it.
	before := map[plumbing.Hash]bool{}
	err = object.NewCommitPreorderIter(base, nil, nil).ForEach(func(c *object.Commit) error {
		before[c.Hash] = true
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	err = object.NewCommitPreorderIter(head, before, nil).ForEach(func(c *object.Commit) error {
		touched, err := touches(c, prefixes)
		if err != nil || !touched {
			return err
		}
		if len(entries) == maxLog {
			more++
			return nil
		}
		subject, _, _ := strings.Cut(c.Message, "\n")
		entries = append(entries, LogEntry{Hash: c.Hash.String(), Subject: subject, Author: c.Author.Name})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return entries, more, nil
}

// touches says whether c changed a file under one of prefixes, compared
// with its first parent (a merge brings its branch's changes).
func touches(c *object.Commit, prefixes []string) (bool, error) {
	tree, err := c.Tree()
	if err != nil {
		return false, err
	}
	var parentTree *object.Tree
	if c.NumParents() > 0 {
		parent, err := c.Parent(0)
		if err != nil {
			return false, err
		}
		if parentTree, err = parent.Tree(); err != nil {
			return false, err
		}
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return false, err
	}
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			for _, p := range prefixes {
				if strings.HasPrefix(name, p) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
