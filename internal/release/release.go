// Package release writes the changes that move an Application from one
// version to another as commits, never as edits of the cluster: a rollback
// is a commit that puts the Application's folders back as they were at an
// earlier revision, so it passes the same signatures and approvals as any
// change, and automated sync applies it like any other.
//
// It reads nothing from the cluster. The caller (reconcile.Pipeline) gives it
// the Application, the folders its renders read and the Project's write
// access with its Secrets read; it returns what it wrote and the Hold to put
// on the Application so that Lockstep's own automation does not undo it.
package release

import (
	"cmp"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Access is how Lockstep writes to one repository for a Project.
type Access struct {
	// URL of the repository and the credentials that may push to it.
	URL  string
	Auth source.Auth
	// Signer signs the commits; nil leaves them unsigned.
	Signer gitwrite.Signer
	// Push says whether commits go to a new branch for review (the default)
	// or onto the followed branch.
	Push v1.GitPush
	// Author of the commits.
	AuthorName, AuthorEmail string
}

// Default author of Lockstep's commits.
const (
	DefaultAuthorName  = "Lockstep"
	DefaultAuthorEmail = "lockstep@localhost"
)

func (a Access) author() (name, email string) {
	return cmp.Or(a.AuthorName, DefaultAuthorName), cmp.Or(a.AuthorEmail, DefaultAuthorEmail)
}

// Trailers Lockstep writes on its commits; the ledger keeps every trailer of
// an applied commit, so a rollback is found by them.
const (
	TrailerRollbackTo  = "Lockstep-Rollback-To"
	TrailerRollbackOf  = "Lockstep-Rollback-Of"
	TrailerApplication = "Lockstep-Application"
	TrailerRequestedBy = policy.RequesterTrailer
)
