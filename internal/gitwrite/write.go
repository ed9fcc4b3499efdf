package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// Request describes one commit: where it goes, what it changes and who
// makes it.
type Request struct {
	// URL of the repository (https:// or ssh://) and the credentials.
	URL  string
	Auth source.Auth
	// Branch is the branch the commit is made on top of, and pushed to
	// unless PushBranch is set. It is created when the repository is empty.
	Branch string
	// PushBranch, when set, is a new branch the commit is pushed to instead
	// of Branch (a change that goes through review). It must not exist yet.
	PushBranch string
	// Edit makes the change on a fresh checkout of Branch. It may run more
	// than once (see Options.Retries), each time on a newer head, so it must
	// compute the change from the Tree it is given, not from what an
	// earlier run saw.
	Edit Edit
	// Name and Email are the author's and committer's.
	Name, Email string
	// Message is the whole commit message (see Message for trailers).
	Message string
	// Describe, when set, writes the message instead, from the tree the edit
	// changed: for a message that names what it changes relative to the
	// head (the commits a rollback reverts), which a retry may move.
	Describe func(t *Tree) (string, error)
	// Signer, when set, signs the commit (see ParseSigningKey).
	Signer Signer
	// DryRun makes the commit and pushes nothing: Result says what a write
	// would do (its Commit exists nowhere else).
	DryRun bool
}

// Options control Write; a zero field takes its value from DefaultOptions.
type Options struct {
	// Retries is how many times a push refused because Branch moved is made
	// again on the new head; negative for none.
	Retries int
	// Backoff is the wait before the first retry. Each further wait doubles,
	// and each is lengthened by up to half at random so that two writers
	// that raced do not race again in step.
	Backoff time.Duration
	// Sleep waits d, or until ctx is done. Tests pass one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock commits are dated by.
	Now func() time.Time
}

// DefaultRetries is how many times Write retries a push that lost a race.
const DefaultRetries = 3

// maxBackoff bounds one wait: a caller that asks for many retries wants
// persistence, not minutes of silence.
const maxBackoff = 5 * time.Second

// DefaultOptions are the options a zero field takes: 3 retries, waits of
// 200 ms, 400 ms and 800 ms (each up to half longer), the real clock.
func DefaultOptions() Options {
	return Options{Retries: DefaultRetries, Backoff: 200 * time.Millisecond, Sleep: sleep, Now: time.Now}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	switch {
	case o.Retries == 0:
		o.Retries = d.Retries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = d.Backoff
	}
	if o.Sleep == nil {
		o.Sleep = d.Sleep
	}
	if o.Now == nil {
		o.Now = d.Now
	}
	return o
}

// Result says what Write did.
type Result struct {
	// Commit is the commit written, or the head of Branch when nothing
	// changed (empty for an empty repository left empty).
	Commit string
	// Changed is false when the edit left the tree as it was: nothing was
	// committed or pushed.
	Changed bool
	// Branch is the branch pushed to (Branch or PushBranch); empty when
	// nothing changed.
	Branch string
	// Attempts is how many times the edit ran: 1, plus one per lost race.
	Attempts int
}

// Write checks out Branch, runs the edit, and commits and pushes what it
// changed. A push refused because Branch moved meanwhile is made again: the
// new head is checked out afresh and the edit run on it, so the change is
// recomputed on top of whatever was pushed (a rebase by re-application).
// Nothing is ever force-pushed.
func Write(ctx context.Context, req Request, opts Options) (Result, error) {
	if err := req.check(); err != nil {
		return Result{}, err
	}
	opts = opts.withDefaults()
	r, err := dial(req.URL, req.Auth)
	if err != nil {
		return Result{}, req.fail(err)
	}
	defer r.release()
	if req.PushBranch != "" {
		if err := r.refuseExisting(ctx, req.PushBranch); err != nil {
			return Result{}, req.fail(err)
		}
	}
	for attempt := 1; ; attempt++ {
		res, err := req.attempt(ctx, r, opts)
		res.Attempts = attempt
		switch {
		case err == nil:
			return res, nil
		case !errors.Is(err, errRaced):
			return res, req.fail(err)
		case attempt > opts.Retries:
			return res, req.fail(fmt.Errorf("%w %d times while this commit was made (someone else keeps pushing to it): run it again later; nothing is ever force-pushed", ErrBranchMoved, attempt))
		}
		if err := opts.Sleep(ctx, backoff(opts.Backoff, attempt)); err != nil {
			return res, req.fail(fmt.Errorf("waiting to retry after %s moved: %w", req.Branch, err))
		}
	}
}

// attempt is one checkout, edit, commit and push. It returns errRaced when
// the push lost a race for Branch.
func (req Request) attempt(ctx context.Context, r *remote, opts Options) (Result, error) {
	co, err := r.checkout(ctx, req.Branch)
	if err != nil {
		return Result{}, err
	}
	defer co.close()
	if co.base.IsZero() && req.PushBranch != "" {
		return Result{}, fmt.Errorf("the repository is empty, and a change for review needs %s to start from: push to %s first (no separate push branch)", req.Branch, req.Branch)
	}
	tree := &Tree{fs: co.fs, repo: co.repo, head: co.base, branch: req.Branch}
	if err := req.Edit(tree); err != nil {
		return Result{}, err
	}
	if err := refuseGitDirs(co.fs); err != nil {
		return Result{}, err
	}
	wt, err := co.repo.Worktree()
	if err != nil {
		return Result{}, err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return Result{}, fmt.Errorf("staging the edit: %w", err)
	}
	status, err := wt.Status()
	if err != nil {
		return Result{}, err
	}
	unchanged := Result{Commit: tree.Head()}
	if status.IsClean() {
		return unchanged, nil
	}
	who := &object.Signature{Name: req.Name, Email: req.Email, When: opts.Now()}
	var signer git.Signer
	if req.Signer != nil {
		signer = signing{req.Signer}
	}
	message := req.Message
	if req.Describe != nil {
		if message, err = req.Describe(tree); err != nil {
			return Result{}, err
		}
	}
	commit, err := wt.Commit(message, &git.CommitOptions{Author: who, Committer: who, Signer: signer})
	switch {
	case errors.Is(err, git.ErrEmptyCommit):
		// The tree decides: status may report a change that the commit's
		// tree does not hold.
		return unchanged, nil
	case err != nil:
		return Result{}, fmt.Errorf("committing: %w", err)
	}
	target := req.Branch
	if req.PushBranch != "" {
		target = req.PushBranch
	}
	if req.DryRun {
		return Result{Commit: commit.String(), Changed: true, Branch: target}, nil
	}
	if err := r.push(ctx, co.repo, req.Branch, target, req.PushBranch == "", co.base); err != nil {
		return Result{}, err
	}
	return Result{Commit: commit.String(), Changed: true, Branch: target}, nil
}

func (req Request) check() error {
	switch {
	case strings.TrimSpace(req.URL) == "":
		return errors.New("a write needs the repository's URL")
	case req.Branch == "" || plumbing.NewBranchReferenceName(req.Branch).Validate() != nil:
		return fmt.Errorf("branch %q is not a branch name: name the branch to write to", req.Branch)
	case req.PushBranch != "" && plumbing.NewBranchReferenceName(req.PushBranch).Validate() != nil:
		return fmt.Errorf("push branch %q is not a branch name: choose another", req.PushBranch)
	case req.PushBranch == req.Branch && req.PushBranch != "":
		return fmt.Errorf("push branch %s is the branch written on: leave it empty to push to %s, or name a new branch", req.PushBranch, req.Branch)
	case req.Edit == nil:
		return errors.New("a write needs an edit: say what to change")
	case req.Name == "" || req.Email == "":
		return errors.New("a commit needs an author's name and email")
	case strings.TrimSpace(req.Message) == "" && req.Describe == nil:
		return errors.New("a commit needs a message")
	}
	return nil
}

func (req Request) fail(err error) error {
	return &Error{URL: req.URL, Branch: req.Branch, Err: err}
}

// backoff is the wait before retry number attempt (1 for the first).
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << (attempt - 1)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	return d + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
