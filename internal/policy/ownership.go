package policy

import (
	"errors"
	"fmt"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// Claim is a desired object whose live copy names another Application as its
// owner.
type Claim struct {
	Key object.Key
	// Owner is the Application ("namespace/name") the live object names.
	Owner string
	// Listed is true when that Application still lists the object in its
	// inventory; false when it is gone or has let the object go.
	Listed bool
}

// CheckOwnership refuses objects another Application still manages: two
// Applications writing one object would undo each other forever. An object
// whose former owner no longer lists it (it moved from one Application to
// another) is taken over.
func CheckOwnership(claims []Claim) error {
	var errs []error
	for _, c := range claims {
		if c.Listed {
			errs = append(errs, fmt.Errorf("%s is managed by Application %s; an object belongs to one Application only: remove it from one of them", c.Key, c.Owner))
		}
	}
	return errors.Join(errs...)
}

// Adoption is a desired object that exists in the cluster and that no
// Application manages: applying it takes it over.
type Adoption struct {
	Key object.Key
	// ManagedBy names who last wrote it (a field manager), "" when unknown.
	ManagedBy string
}

// CheckAdoptions refuses taking over existing objects when the Project says
// so (spec.adoption: Refuse).
func (r *Rules) CheckAdoptions(adoptions []Adoption) error {
	if r.spec.Adoption != v1.AdoptionRefuse {
		return nil
	}
	var errs []error
	for _, a := range adoptions {
		by := ""
		if a.ManagedBy != "" {
			by = " (last written by " + a.ManagedBy + ")"
		}
		errs = append(errs, fmt.Errorf("%s exists and no Application manages it%s; project %s refuses to take over existing objects (spec.adoption: Refuse): delete it, or allow adoption", a.Key, by, r.Project))
	}
	return errors.Join(errs...)
}

// CheckRollback refuses a revision that does not descend from the applied
// one when the Project says so (spec.rollbacks: Refuse). why says how it
// was told.
func (r *Rules) CheckRollback(applied, revision, why string) error {
	if r.spec.Rollbacks != v1.RollbacksRefuse {
		return nil
	}
	return fmt.Errorf("revision %.12s does not descend from the applied %.12s (%s): a rollback, and project %s refuses rollbacks (spec.rollbacks: Refuse); roll back with git revert, which keeps the history", revision, applied, why, r.Project)
}
