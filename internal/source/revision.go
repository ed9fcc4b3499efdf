package source

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// maxRevisionLen bounds a revision someone types or sends: Git refuses longer
// ref names on most servers anyway.
const maxRevisionLen = 255

// ParseRevision reads a revision as people name one on a command line or in
// an API call: a full 40-character commit hash, refs/heads/NAME or
// refs/tags/NAME, or else a branch name. A shorter hexadecimal string is
// refused rather than guessed at: a preview must show exactly the commit it
// names, and only a full hash does (refs/heads/NAME names a branch that looks
// like one).
func ParseRevision(s string) (Ref, error) {
	var r Ref
	switch {
	case s == "":
		return r, fmt.Errorf("name a revision: a branch or a full commit hash")
	case len(s) > maxRevisionLen:
		return r, fmt.Errorf("revision is %d characters long; a branch or commit is at most %d", len(s), maxRevisionLen)
	case isFullHash(strings.ToLower(s)):
		r.Commit = strings.ToLower(s)
	case strings.HasPrefix(s, "refs/heads/"):
		r.Branch = strings.TrimPrefix(s, "refs/heads/")
	case strings.HasPrefix(s, "refs/tags/"):
		r.Tag = strings.TrimPrefix(s, "refs/tags/")
	case len(s) >= 4 && isHex(s):
		return r, fmt.Errorf("revision %q looks like an abbreviated commit: give the full 40-character hash (git rev-parse %s), or refs/heads/%s for a branch of that name", s, s, s)
	default:
		r.Branch = s
	}
	if r.Branch == "" && r.Tag == "" && r.Commit == "" {
		return r, fmt.Errorf("revision %q names no branch or tag", s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return r, fmt.Errorf("revision %q holds a control character", s)
		}
	}
	if err := r.validate(); err != nil {
		return Ref{}, fmt.Errorf("revision: %w", err)
	}
	name := plumbing.NewBranchReferenceName(r.Branch)
	if r.Tag != "" {
		name = plumbing.NewTagReferenceName(r.Tag)
	}
	if r.Commit == "" && name.Validate() != nil {
		return Ref{}, fmt.Errorf("revision %q is not a valid Git ref name", s)
	}
	return r, nil
}

func isHex(s string) bool {
	for _, c := range strings.ToLower(s) {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
