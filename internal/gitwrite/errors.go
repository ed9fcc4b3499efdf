package gitwrite

import (
	"errors"
	"fmt"

	"github.com/lockstep-dev/lockstep/internal/object"
)

// Errors wrapped by Write, so that callers can tell the cases apart.
var (
	// ErrBranchMoved: others kept pushing to the branch, and every retry
	// lost the race. Worth trying again later as it is.
	ErrBranchMoved = errors.New("the branch moved")
	// ErrBranchExists: the push branch already exists on the remote.
	ErrBranchExists = errors.New("the branch already exists")
)

// errRaced is one lost race, which Write retries.
var errRaced = errors.New("the branch moved while this commit was made")

// Error is a write that failed: the repository, the branch, and why.
type Error struct {
	// URL is the repository as given; Error hides the credentials it may
	// hold.
	URL    string
	Branch string
	Err    error
}

func (e *Error) Error() string {
	return object.RedactURLIn(fmt.Sprintf("%s, branch %s: %v", e.URL, e.Branch, e.Err), e.URL)
}

func (e *Error) Unwrap() error { return e.Err }
