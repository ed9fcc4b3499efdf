package verify

import (
	"fmt"
	"strings"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Revision checks the signatures mode asks for on a snapshot: the commit (HEAD,
// the default), the annotated tag (Tag), or both (TagAndHEAD). It returns the
// key that signed the commit, or the tag's when only the tag is checked.
func Revision(keys *KeyRing, mode v1.VerificationMode, snap *source.Snapshot) (Result, error) {
	if mode == "" {
		mode = v1.VerifyHead
	}
	var res Result
	if mode == v1.VerifyTag || mode == v1.VerifyTagAndHead {
		if snap.Tag == nil {
			return Result{}, fmt.Errorf("verification mode %s needs an annotated tag, and %s is not one (follow a tag or a semver range)", mode, refName(snap.Commit))
		}
		got, err := keys.Verify(snap.Tag.SignedPayload, snap.Tag.Signature)
		if err != nil {
			return Result{}, fmt.Errorf("tag %s: %w", snap.Tag.Name, err)
		}
		// The signature covers the name inside the tag object, not the ref it
		// is published under: a signed v1.0.0 pushed again as v9.0.0 would
		// otherwise roll back whoever follows the newest tag.
		if published := strings.TrimPrefix(snap.Commit.Ref, "refs/tags/"); snap.Tag.Name != published {
			return Result{}, fmt.Errorf("tag %s is the signed tag %s published under another name; refused", published, snap.Tag.Name)
		}
		res = got
	}
	if mode == v1.VerifyHead || mode == v1.VerifyTagAndHead {
		got, err := keys.Verify(snap.Commit.SignedPayload, snap.Commit.Signature)
		if err != nil {
			return Result{}, fmt.Errorf("commit %s: %w", snap.Commit.Short(), err)
		}
		res = got
	}
	return res, nil
}

func refName(c source.Commit) string {
	if c.Ref == "" {
		return "commit " + c.Short()
	}
	return c.Ref
}
