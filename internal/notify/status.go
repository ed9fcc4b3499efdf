package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Git servers whose commit statuses NewStatus writes.
const (
	Gitea   Type = "gitea"   // Gitea's API v1
	Forgejo Type = "forgejo" // Forgejo keeps Gitea's API
	GitLab  Type = "gitlab"  // GitLab's API v4
	GitHub  Type = "github"  // GitHub and GitHub Enterprise Server, REST API
)

// StatusTypes lists them, for validation and help texts.
var StatusTypes = []Type{Gitea, Forgejo, GitLab, GitHub}

// StatusConfig describes where commit statuses go: one Git server and the
// token that may set statuses there.
type StatusConfig struct {
	Type Type
	// Address is the API's base: https://gitea.example.org (or
	// https://example.org/gitea under a sub-path), https://gitlab.example.org,
	// https://api.github.com or https://ghe.example.org/api/v3. Empty: taken
	// from each message's repository over https (https://HOST, with the
	// sub-path of a Gitea repository's URL; api.github.com for github.com
	// and HOST/api/v3 for other GitHub servers).
	//
	// With an empty Address the token goes to whichever host an
	// Application's repository names: give an Address whenever the
	// Applications that send here are not all trusted with the token.
	Address string
	// Token sets statuses: a Gitea or Forgejo access token (repository
	// write), a GitLab token with the api scope (Developer or higher), a
	// GitHub token with commit statuses write.
	Token string
	// Context starts each status's name, followed by "/" and the
	// Application: "lockstep" when empty, so "lockstep/team-a/web". Two
	// Lockstep installations that deploy the same repository give different
	// ones.
	Context string
	// RootCAs are the CAs the server's certificate must chain to (an
	// internal CA); nil trusts the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one request (DefaultTimeout when 0).
	Timeout time.Duration
	// Insecure lets the token travel over an http:// Address.
	Insecure bool
	// Now is the clock (time.Now when nil); Retry-After dates read it.
	Now func() time.Time
}

// DefaultStatusContext starts a status's name when StatusConfig.Context is
// empty.
const DefaultStatusContext = "lockstep"

const maxStatusContext = 100

// statusServer is one Git server's commit-status API.
type statusServer struct {
	// base derives the API's base from the repository when the
	// configuration gives none.
	base func(l repoLocation) (*url.URL, error)
	// request returns the path below the base and the JSON body of a
	// status on the repository named by segs (the repository URL's path,
	// less the base's sub-path).
	request func(segs []string, sha string, s statusFields) (string, any, error)
	// auth puts the token on a request; header is sent with every one.
	auth   func(token string) func(*http.Request)
	header http.Header
	// The longest description and target URL the server takes.
	maxDescription, maxTarget int
	// already reports whether a refusal means the status already is what
	// was sent (GitLab refuses to move a status to the state it has).
	already func(err *DeliveryError, s statusFields) bool
}

// statusFields are what a status says, before each server's JSON.
type statusFields struct {
	State                        commitState
	Context, Description, Target string
}

var statusServers = map[Type]statusServer{
	Gitea:   giteaStatus,
	Forgejo: giteaStatus,
	GitLab:  gitlabStatus,
	GitHub:  githubStatus,
}

// statusWriter is the Provider NewStatus returns. It is safe for
// concurrent use.
type statusWriter struct {
	kind    Type
	server  statusServer
	base    *url.URL // nil: from each message's repository
	context string
	sender  *httpSender
}

// NewStatus checks c and returns a Provider that sets each message's
// outcome as a status on its commit: applied and healthy is success,
// applied and still progressing is pending (GitLab: running), waiting for an
// approval is pending, refused by policy or signature and degraded are
// failure (GitLab: failed), and a sync that failed is error (GitLab:
// failed). DriftDetected says nothing of the commit and sets none. Its
// errors never repeat the token.
func NewStatus(c StatusConfig) (Provider, error) {
	server, ok := statusServers[c.Type]
	if !ok {
		names := make([]string, len(StatusTypes))
		for i, t := range StatusTypes {
			names[i] = string(t)
		}
		return nil, fmt.Errorf("unknown commit status server %q: one of %s", clip(c.Type), strings.Join(names, ", "))
	}
	w, err := newStatusWriter(c, server)
	if err != nil {
		return nil, fmt.Errorf("%s commit status: %w", c.Type, err)
	}
	return w, nil
}

func newStatusWriter(c StatusConfig, server statusServer) (*statusWriter, error) {
	switch {
	case c.Token == "":
		return nil, errors.New("the token is missing")
	case len(c.Token) > maxCredential:
		return nil, fmt.Errorf("the token is longer than %d bytes", maxCredential)
	case hasControl(c.Token) || strings.ContainsAny(c.Token, " \t"):
		// It goes into a header, where CR and LF would start another.
		return nil, errors.New("the token contains a space or a control character (a line break?)")
	case c.Timeout < 0 || c.Timeout > maxTimeout:
		return nil, fmt.Errorf("timeout %s is not between 0 and %s", c.Timeout, maxTimeout)
	}
	if c.Context == "" {
		c.Context = DefaultStatusContext
	}
	if len(c.Context) > maxStatusContext || oneLine(c.Context, maxStatusContext) != c.Context {
		return nil, fmt.Errorf("the context must be one line of at most %d bytes", maxStatusContext)
	}
	w := &statusWriter{kind: c.Type, server: server, context: c.Context}
	// The sender carries the HTTP rules every provider shares (TLS, no
	// redirect elsewhere, bounded answers, retry classification).
	httpConfig := Config{Type: c.Type, Address: c.Address, Token: c.Token, RootCAs: c.RootCAs, Timeout: c.Timeout, Insecure: c.Insecure, Now: c.Now}
	u := &url.URL{Scheme: "https", Host: "repository-host"} // named per message
	if c.Address != "" {
		var err error
		if u, err = parseAddress(c.Address, c.Type); err != nil {
			return nil, err
		}
		if u.RawQuery != "" {
			return nil, errors.New("the address has a query, which an API base has none of")
		}
		w.base = u
	}
	sender, err := newHTTPSender(httpConfig, u)
	if err != nil {
		return nil, err
	}
	sender.auth = server.auth(c.Token)
	w.sender = sender
	return w, nil
}

// Send sets m's outcome as a status on m.Revision. A message that cannot
// name a commit status (no full commit hash, a repository URL that names
// no repository) fails without a retry.
func (w *statusWriter) Send(ctx context.Context, m Message) error {
	state, ok := stateOf(m)
	if !ok {
		return nil
	}
	subject := oneLine(clip(m.Application), maxValue)
	if r := shortRevision(m.Revision); r != "" {
		subject += " at " + oneLine(r, 7)
	}
	refuse := func(err error) error {
		return &DeliveryError{Err: fmt.Errorf("%s: %s commit status: %w", subject, w.kind, err)}
	}
	sha, err := commitHash(m.Revision)
	if err != nil {
		return refuse(err)
	}
	loc, err := parseRepository(m.Repository)
	if err != nil {
		return refuse(err)
	}
	base := w.base
	if base == nil {
		if base, err = w.server.base(loc); err != nil {
			return refuse(err)
		}
	}
	fields := statusFields{
		State:       state,
		Context:     statusContext(w.context, m),
		Description: statusDescription(m, w.server.maxDescription),
		Target:      targetURL(m.URL, w.server.maxTarget),
	}
	path, body, err := w.server.request(loc.trimPrefix(base), sha, fields)
	if err != nil {
		return refuse(err)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return refuse(err)
	}
	h := *w.sender // the same client; errors name this message's server
	h.endpoint = endpoint(base)
	err = h.send(ctx, http.MethodPost, strings.TrimSuffix(base.String(), "/")+path, data, w.server.header)
	var de *DeliveryError
	if !errors.As(err, &de) {
		return err
	}
	if w.server.already != nil && w.server.already(de, fields) {
		return nil
	}
	return &DeliveryError{Retry: de.Retry, RetryAfter: de.RetryAfter, Err: fmt.Errorf("%s: %w", subject, de.Err)}
}

// httpsBase is https://host/sub/path, the usual base of a server's API.
func httpsBase(host string, sub ...string) *url.URL {
	u := &url.URL{Scheme: "https", Host: host}
	if len(sub) > 0 {
		u.Path = "/" + strings.Join(sub, "/")
	}
	return u
}

// webHost is the host a repository's web URL names, or the SSH host
// (whose web server listens on 443). A repository served over http://
// gives none: the token must not travel in plain text to a host no one
// configured.
func webHost(l repoLocation) (string, error) {
	if l.Web && l.Scheme != "https" {
		return "", errors.New("the repository is served over http://: give the server's API address (and insecure) to send the token in plain text")
	}
	return l.Host, nil
}
