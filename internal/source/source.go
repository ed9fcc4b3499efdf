// Package source is the first stage of the pipeline: it fetches a Git repository at
// a ref over HTTPS or SSH into a per-repository cache and returns a Snapshot, the
// commit's metadata and its files as a read-only fs.FS.
//
// One Cache serves every Application: fetches of one repository are serialised
// (waiting respects the context; a reusable resolution never waits),
// and a ref resolved less than MaxAge ago is reused without touching the network,
// so a hundred Applications on one repository fetch it once per interval.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/object"
)

// Ref selects a commit. At most one field is set; none means the remote's default
// branch.
type Ref struct {
	Branch string
	Tag    string
	// Semver is a range over tags ("^1.2", ">=1.0.0 <2.0.0"); the highest match wins.
	Semver string
	// Commit is a full 40-character hash.
	Commit string
}

// String describes the ref for messages: "branch main", "tag v1", ...
func (r Ref) String() string {
	switch {
	case r.Branch != "":
		return "branch " + r.Branch
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Semver != "":
		return "semver " + r.Semver
	case r.Commit != "":
		return "commit " + r.Commit
	default:
		return "the default branch"
	}
}

func (r Ref) validate() error {
	set := 0
	for _, v := range []string{r.Branch, r.Tag, r.Semver, r.Commit} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("set at most one of branch, tag, semver and commit")
	}
	if r.Commit != "" && !isFullHash(r.Commit) {
		return fmt.Errorf("commit %q is not a full 40-character hash", r.Commit)
	}
	for _, name := range []string{r.Branch, r.Tag} {
		if strings.ContainsAny(name, " ~^:?*[\\") || strings.Contains(name, "..") || strings.HasPrefix(name, "-") {
			return fmt.Errorf("%q is not a valid Git ref name", name)
		}
	}
	return nil
}

func isFullHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Auth holds the credentials for one repository. Its String method never prints
// a secret.
type Auth struct {
	// Username and Password (or a token as the password) for HTTPS.
	Username, Password string
	// SSHPrivateKey (PEM or OpenSSH format) and KnownHosts (known_hosts lines) for
	// SSH. KnownHosts is required: host keys are never accepted blindly.
	SSHPrivateKey, KnownHosts []byte
	// CABundle (PEM) trusted for HTTPS in addition to nothing else.
	CABundle []byte
}

// id is a digest of the credentials, to scope resolutions made with them.
func (a Auth) id() string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(a.Username), []byte(a.Password), a.SSHPrivateKey, a.KnownHosts, a.CABundle} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// String says which kinds of credentials are present, never their values.
func (a Auth) String() string {
	var kinds []string
	if a.Username != "" || a.Password != "" {
		kinds = append(kinds, "basic")
	}
	if len(a.SSHPrivateKey) > 0 {
		kinds = append(kinds, "ssh-key")
	}
	if len(a.CABundle) > 0 {
		kinds = append(kinds, "ca")
	}
	return "Auth{" + strings.Join(kinds, ",") + "}"
}

// Request names what to fetch.
type Request struct {
	URL string
	Ref Ref
	// Auth is used when Credentials is nil.
	Auth Auth
	// Credentials, when set, supplies the credentials, and is called only when the
	// server must be asked: a fresh resolution is answered without reading them.
	Credentials func(context.Context) (Auth, error)
	// CredentialsID names where the credentials come from (a Secret's namespace
	// and name). Resolutions are shared only between requests with the same ID,
	// so a request never sees what another's credentials were allowed to read.
	CredentialsID string
}

func (r Request) credentials(ctx context.Context) (Auth, error) {
	if r.Credentials == nil {
		return r.Auth, nil
	}
	return r.Credentials(ctx)
}

// Snapshot is a commit and its files.
type Snapshot struct {
	Commit Commit
	// Tag is the annotated tag the ref names; nil for a branch, a commit or a
	// lightweight tag.
	Tag *Tag
	// Files is the commit's whole tree, read-only; symbolic links are reported as
	// such and never followed.
	Files fs.FS
	// Resolved is when the ref was resolved to Commit (by this fetch or an
	// earlier one whose resolution was reused).
	Resolved time.Time

	repo *cachedRepo // the history, for Descends
}

// Error is a fetch failure. Transient errors (the server is down, a timeout) are
// worth retrying as they are; others need a change to the spec, the credentials or
// the repository.
type Error struct {
	URL       string
	Ref       Ref
	Transient bool
	Err       error
}

func (e *Error) Error() string {
	return object.RedactURLIn(fmt.Sprintf("fetching %s of %s: %v", e.Ref, e.URL, e.Err), e.URL)
}

func (e *Error) Unwrap() error { return e.Err }
