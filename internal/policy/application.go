package policy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/object"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// CheckApplication checks what an Application asks for before anything is
// fetched: its repository, its destination and the identity it applies as.
func (r *Rules) CheckApplication(app *v1.Application) error {
	var vs []Violation
	if !r.sourceNamespaceAllowed(app.Namespace) {
		vs = append(vs, Violation{Rule: "spec.sourceNamespaces",
			Message: fmt.Sprintf("Applications in namespace %s may not use this project", app.Namespace)})
	}
	switch url := app.Spec.Source.Git.URL; {
	case hasDotSegment(url):
		vs = append(vs, Violation{Rule: "spec.sourceRepos",
			Message: fmt.Sprintf("repository %s has . or .. in its path, which a server may resolve to another repository", object.RedactedURL(url))})
	case !r.RepoAllowed(url):
		vs = append(vs, Violation{Rule: "spec.sourceRepos",
			Message: fmt.Sprintf("repository %s is not one of the project's source repositories", object.RedactedURL(url))})
	}
	cluster := clusterOf(app)
	if !r.DestinationAllowed(cluster, app.Spec.Destination.Namespace) {
		vs = append(vs, Violation{Rule: "spec.destinations",
			Message: fmt.Sprintf("destination %s/%s is not one of the project's destinations", cluster, app.Spec.Destination.Namespace)})
	}
	if want, got := r.spec.ServiceAccountName, app.Spec.Destination.ServiceAccountName; want != "" && got != "" && got != want {
		vs = append(vs, Violation{Rule: "spec.serviceAccountName",
			Message: fmt.Sprintf("service account %s: the project applies as %s and allows no other", got, want)})
	}
	return r.verdict(vs)
}

func (r *Rules) sourceNamespaceAllowed(namespace string) bool {
	for _, g := range r.sources {
		if g.Match(namespace) {
			return true
		}
	}
	return false
}

// RepoAllowed reports whether a repository URL matches spec.sourceRepos.
func (r *Rules) RepoAllowed(repoURL string) bool {
	u := normalizeURL(repoURL)
	for _, g := range r.repos {
		if g.Match(u) {
			return true
		}
	}
	return false
}

// DestinationAllowed reports whether a cluster and namespace match
// spec.destinations.
func (r *Rules) DestinationAllowed(cluster, namespace string) bool {
	for _, d := range r.dests {
		if d.cluster.Match(cluster) && d.namespace.Match(namespace) {
			return true
		}
	}
	return false
}

// hasDotSegment reports whether a URL's path has a . or .. segment, escaped
// (even twice, for a proxy that unescapes again) or not: team-a/../team-b
// matches team-a/** but names team-b's repository. A path that does not
// unescape counts as having one.
func hasDotSegment(s string) bool {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		rest = s
	}
	for strings.Contains(rest, "%") {
		u, err := url.PathUnescape(rest)
		if err != nil {
			return true
		}
		if u == rest {
			break
		}
		rest = u
	}
	for _, seg := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' || r == ':' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// normalizeURL makes equal URLs compare equal: the scheme and host are
// lower-cased, a trailing / or .git and the user are dropped. A pattern goes
// through the same steps; its glob characters are left alone.
func normalizeURL(s string) string {
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	}
	host, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	if u, err := url.PathUnescape(path); err == nil {
		path = u
	}
	path = strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + "/" + path
}

func clusterOf(app *v1.Application) string {
	if app.Spec.Destination.Cluster == "" {
		return v1.InCluster
	}
	return app.Spec.Destination.Cluster
}
