package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// repoLocation is where a Git URL points: the server's host and the
// repository's path on it, as segments without ".git".
type repoLocation struct {
	// Web is whether the URL was http(s): then Host keeps its port (the web
	// port) and the path may start with a sub-path the server is served
	// under. An SSH URL's port is SSH's and its path has no sub-path.
	Web      bool
	Scheme   string // http or https when Web
	Host     string // host[:port] when Web, else the host name
	Segments []string
}

// maxRepoURL bounds a repository URL read; the Application CRD allows less.
const maxRepoURL = 2048

// scpLike is Git's scp-like SSH syntax: [user@]host:path, the path not
// starting with a slash-slash (that would be a URL).
var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):([^/].*|/[^/].*)$`)

// segmentChars are what GitHub, GitLab and Gitea allow in owner, group and
// repository names.
var segmentChars = regexp.MustCompile(`^[A-Za-z0-9_.\-]+$`)

// parseRepository reads an Application's repository URL: https://, http://,
// ssh:// (and git+ssh://) or scp-like git@host:owner/repo, with or without
// .git. Its errors never quote the URL whole (it should carry no
// credentials, but a user may have put some there).
func parseRepository(raw string) (repoLocation, error) {
	switch {
	case raw == "":
		return repoLocation{}, errors.New("the message names no repository")
	case len(raw) > maxRepoURL:
		return repoLocation{}, fmt.Errorf("the repository URL is longer than %d bytes", maxRepoURL)
	case hasControl(raw) || strings.ContainsAny(raw, " \t\\"):
		return repoLocation{}, errors.New("the repository URL contains a space, a backslash or a control character")
	}
	var loc repoLocation
	var path string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return repoLocation{}, fmt.Errorf("the repository URL does not parse: %w", err)
		}
		switch u.Scheme {
		case "https", "http":
			loc.Web, loc.Scheme, loc.Host = true, u.Scheme, u.Host
		case "ssh", "git+ssh", "ssh+git":
			loc.Host = u.Hostname()
		default:
			return repoLocation{}, fmt.Errorf("the repository URL's scheme %q is not https, http or ssh", clip(u.Scheme))
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return repoLocation{}, errors.New("the repository URL has a query or a fragment")
		}
		path = u.Path
	} else {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			return repoLocation{}, errors.New("the repository URL is neither a URL nor host:path")
		}
		loc.Host, path = strings.Trim(m[1], "[]"), m[2]
	}
	if loc.Host == "" || strings.HasPrefix(loc.Host, ":") {
		return repoLocation{}, errors.New("the repository URL has no host")
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	segs[len(segs)-1] = strings.TrimSuffix(segs[len(segs)-1], ".git")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || s == "-" || !segmentChars.MatchString(s) || len(s) > 255 {
			return repoLocation{}, fmt.Errorf("the repository URL's path has a segment %q that names no owner, group or repository", clip(s))
		}
	}
	if len(segs) < 2 {
		return repoLocation{}, errors.New("the repository URL's path is not owner/repository")
	}
	loc.Segments = segs
	return loc, nil
}

// trimPrefix drops the sub-path an API address is served under (/gitea in
// https://example.org/gitea) from the front of the repository's path, when
// the repository's web URL is on the same host and starts with it.
func (l repoLocation) trimPrefix(base *url.URL) []string {
	prefix := strings.Split(strings.Trim(base.Path, "/"), "/")
	if prefix[0] == "" || !l.Web || !strings.EqualFold(l.Host, base.Host) || len(l.Segments) <= len(prefix) {
		return l.Segments
	}
	for i, p := range prefix {
		if l.Segments[i] != p {
			return l.Segments
		}
	}
	return l.Segments[len(prefix):]
}

// revisionPattern is a full commit hash: SHA-1 or SHA-256.
var revisionPattern = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// commitHash checks the message's revision: statuses are set on a full
// hash, never on a branch name.
func commitHash(rev string) (string, error) {
	rev = strings.ToLower(rev)
	if !revisionPattern.MatchString(rev) {
		if rev == "" {
			return "", errors.New("the message names no commit")
		}
		return "", fmt.Errorf("the revision %q is not a full commit hash", clip(rev))
	}
	return rev, nil
}
