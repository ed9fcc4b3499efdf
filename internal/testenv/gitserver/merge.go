package gitserver

import (
	"fmt"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MergeOptions describe a merge of a branch, as a forge makes one when a
// pull request is accepted.
type MergeOptions struct {
	// From is the branch merged; Into the branch that gets the merge commit
	// ("main" when empty).
	From, Into string
	// Message is the merge commit's message, trailers (Approved-by) included.
	Message string
	// Author of the merge commit (the committer too); a fixed test identity
	// when zero.
	Author Person
	// Signer signs the merge commit, as a forge signs with its key.
	Signer git.Signer
	// Squash makes one commit on Into with From's tree and Into's head as
	// its only parent, authored by From's head's author unless Author is
	// set (a squash merge keeps who wrote the change).
	Squash bool
}

// Merge writes a merge commit on Into whose parents are Into's head and
// From's head, and whose tree is From's: the merge of a pull request that is
// up to date with its target, which is all the tests need. From must
// descend from Into's head.
func (r *Repo) Merge(opts MergeOptions) (hash string, err error) {
	r.pushed(func() { hash, err = r.merge(opts) })
	return hash, err
}

func (r *Repo) merge(opts MergeOptions) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if opts.Into == "" {
		opts.Into = "main"
	}
	if err := r.reopen(); err != nil {
		return "", err
	}
	into, err := r.repo.Reference(plumbing.NewBranchReferenceName(opts.Into), true)
	if err != nil {
		return "", fmt.Errorf("branch %s: %w", opts.Into, err)
	}
	from, err := r.repo.Reference(plumbing.NewBranchReferenceName(opts.From), true)
	if err != nil {
		return "", fmt.Errorf("branch %s: %w", opts.From, err)
	}
	fromCommit, err := r.repo.CommitObject(from.Hash())
	if err != nil {
		return "", err
	}
	intoCommit, err := r.repo.CommitObject(into.Hash())
	if err != nil {
		return "", err
	}
	if ok, err := intoCommit.IsAncestor(fromCommit); err != nil || !ok {
		return "", fmt.Errorf("%s is not up to date with %s: rebase it first (%v)", opts.From, opts.Into, err)
	}
	who := signature(opts.Author, time.Time{})
	c := &object.Commit{Author: who, Committer: who, Message: opts.Message, TreeHash: fromCommit.TreeHash,
		ParentHashes: []plumbing.Hash{into.Hash(), from.Hash()}}
	if opts.Squash {
		c.ParentHashes = c.ParentHashes[:1]
		if opts.Author == (Person{}) {
			c.Author = fromCommit.Author
		}
	}
	if opts.Signer != nil {
		sig, err := sign(opts.Signer, c)
		if err != nil {
			return "", fmt.Errorf("signing the merge: %w", err)
		}
		c.PGPSignature = sig
	}
	h, err := r.storeEncoded(c)
	if err != nil {
		return "", err
	}
	if err := r.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(into.Name(), h), into); err != nil {
		return "", fmt.Errorf("moving %s (a concurrent push?): %w", opts.Into, err)
	}
	return h.String(), nil
}
