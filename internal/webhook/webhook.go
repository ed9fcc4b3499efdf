// Package webhook reads the push events Git servers send: it checks each
// server's own signature (in constant time) and returns which repository
// and ref moved, to what commit, and which files changed when the payload
// lists them. It is pure: bytes and headers in, an Event out; receiving
// (paths, limits, Secrets) and refreshing Applications are the caller's.
package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Provider names the kind of server a receiver expects.
type Provider string

// The providers read.
const (
	GitHub          Provider = "github"          // GitHub and GitHub Enterprise Server
	Gitea           Provider = "gitea"           // Gitea and Forgejo
	GitLab          Provider = "gitlab"          // GitLab
	BitbucketServer Provider = "bitbucketserver" // Bitbucket Server and Data Center
	Generic         Provider = "generic"         // anything that signs like GitHub: see GenericPayload
)

// Providers lists them, for help texts and validation.
var Providers = []Provider{GitHub, Gitea, GitLab, BitbucketServer, Generic}

// MaxBody is the largest payload read: a push of many commits is well
// under it (GitHub caps its payloads at 25 MB, listing at most 2,048
// commits; most servers send far less).
const MaxBody = 25 << 20

// Event is one push: a repository's ref moved.
type Event struct {
	// Repositories are the names the repository goes by in the payload:
	// clone URLs and owner/name paths, as the server wrote them. Matches
	// compares them with an Application's URL.
	Repositories []string
	// Ref is the full ref (refs/heads/main, refs/tags/v1).
	Ref string
	// Commit is the ref's new commit; empty when the ref was deleted.
	Commit string
	// Files are the paths the pushed commits changed, when the payload
	// lists them all; nil when it does not (then every path may have).
	Files []string
}

// Errors a caller tells apart: a request that proves nothing (refused), or
// an event that is not a push (answered, and nothing done).
var (
	ErrSignature = errors.New("the request's signature does not match the receiver's secret")
	ErrNotPush   = errors.New("not a push event")
)

// Parse checks the request's signature with secret and reads its push.
// Only a checked request is read.
func Parse(p Provider, header http.Header, body []byte, secret []byte) (Event, error) {
	if len(secret) == 0 {
		return Event{}, errors.New("the receiver has no secret: every request would be taken")
	}
	if len(body) > MaxBody {
		return Event{}, fmt.Errorf("the payload is %d bytes, more than %d", len(body), MaxBody)
	}
	switch p {
	case GitHub, Generic:
		return parseGitHubLike(p, header, body, secret)
	case Gitea:
		return parseGitea(header, body, secret)
	case GitLab:
		return parseGitLab(header, body, secret)
	case BitbucketServer:
		return parseBitbucketServer(header, body, secret)
	}
	return Event{}, fmt.Errorf("provider %q: want one of %v", p, Providers)
}

// Matches says whether an Application following url and branch or tag
// (a full ref) should look at this event: the same repository under any of
// its names, and the same ref, or no ref named (the default branch, which
// the payload does not say: a refresh is cheap).
func (e Event) Matches(url, ref string) bool {
	if ref != "" && e.Ref != "" && ref != e.Ref {
		return false
	}
	want := repoPath(url)
	for _, r := range e.Repositories {
		if repoPath(r) == want {
			return true
		}
	}
	return false
}

// repoPath is the last two segments of a repository's URL or path,
// lowercase, without .git: what a clone URL, an scp-like address and an
// owner/name share ("https://git.internal/scm/team/app.git" and
// "ssh://git@git.internal:7999/team/app.git" are both "team/app").
func repoPath(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s = strings.ReplaceAll(s, ":", "/")
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return s
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// Touches says whether the push changed anything under dir (an
// Application's path; "" or "." is the whole repository). Without a list
// of files, it may have.
func (e Event) Touches(dir string) bool {
	if e.Files == nil {
		return true
	}
	dir = strings.Trim(dir, "/")
	if dir == "" || dir == "." {
		return len(e.Files) > 0
	}
	for _, f := range e.Files {
		if f == dir || strings.HasPrefix(f, dir+"/") {
			return true
		}
	}
	return false
}
