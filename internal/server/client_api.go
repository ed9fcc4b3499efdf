package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// Login opens a session for a local account.
func (c *Client) Login(ctx context.Context, username, password string) (auth.Session, error) {
	var s auth.Session
	err := c.do(ctx, http.MethodPost, PathSession, nil, LoginRequest{Username: username, Password: password}, &s)
	return s, err
}

// Logout ends the client's session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, PathSession, nil, nil, nil)
}

// Whoami says who the client's credential belongs to.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var w Whoami
	err := c.do(ctx, http.MethodGet, PathSession, nil, nil, &w)
	return w, err
}

// ChangePassword changes the logged-in account's password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.do(ctx, http.MethodPut, PathSession+"/password", nil, PasswordChange{Current: current, New: next}, nil)
}

// ListOptions select and page a list of Applications.
type ListOptions struct {
	Project, Namespace, Sync, Health, Labels, Search string
	VerificationFailed, PolicyDenied                 bool
	Limit                                            int
	Continue                                         string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"project": o.Project, "namespace": o.Namespace, "sync": o.Sync, "health": o.Health,
		"labels": o.Labels, "search": o.Search, "continue": o.Continue} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.VerificationFailed {
		q.Set("verificationFailed", "true")
	}
	if o.PolicyDenied {
		q.Set("policyDenied", "true")
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// Applications lists one page of Applications.
func (c *Client) Applications(ctx context.Context, o ListOptions) (AppList, error) {
	var l AppList
	err := c.do(ctx, http.MethodGet, PathApplications, o.query(), nil, &l)
	return l, err
}

// AllApplications lists every Application the filter selects, page by page.
func (c *Client) AllApplications(ctx context.Context, o ListOptions) ([]AppSummary, error) {
	o.Limit = MaxPageSize
	var all []AppSummary
	for {
		page, err := c.Applications(ctx, o)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Continue == "" {
			return all, nil
		}
		o.Continue = page.Continue
	}
}

func appPathOf(namespace, name string) string {
	return PathApplications + "/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

// Application reads one Application.
func (c *Client) Application(ctx context.Context, namespace, name string) (*v1.Application, error) {
	var d AppDetail
	err := c.do(ctx, http.MethodGet, appPathOf(namespace, name), nil, nil, &d)
	return d.Application, err
}

// Sync asks for a sync of the commit (and spec generation) the caller saw.
func (c *Client) Sync(ctx context.Context, namespace, name string, req SyncRequest) (ActionResult, error) {
	var r ActionResult
	err := c.do(ctx, http.MethodPost, appPathOf(namespace, name)+"/sync", nil, req, &r)
	return r, err
}

// Act asks for refresh, suspend or resume.
func (c *Client) Act(ctx context.Context, namespace, name, action string) (ActionResult, error) {
	var r ActionResult
	err := c.do(ctx, http.MethodPost, appPathOf(namespace, name)+"/"+url.PathEscape(action), nil, nil, &r)
	return r, err
}

// Projects lists the Projects, and the built-in default while no Project
// named default exists.
func (c *Client) Projects(ctx context.Context) (ProjectList, error) {
	var l ProjectList
	err := c.do(ctx, http.MethodGet, PathProjects, nil, nil, &l)
	return l, err
}

// Project reads one Project.
func (c *Client) Project(ctx context.Context, name string) (*ProjectDetail, error) {
	p := &ProjectDetail{}
	err := c.do(ctx, http.MethodGet, PathProjects+"/"+url.PathEscape(name), nil, nil, p)
	return p, err
}

// CreateToken makes an API token; its secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, r auth.TokenRequest) (NewToken, error) {
	var t NewToken
	err := c.do(ctx, http.MethodPost, PathTokens, nil, r, &t)
	return t, err
}

// Accounts lists the local accounts.
func (c *Client) Accounts(ctx context.Context) ([]auth.AccountInfo, error) {
	var l struct{ Items []auth.AccountInfo }
	err := c.do(ctx, http.MethodGet, PathAccounts, nil, nil, &l)
	return l.Items, err
}

// CreateAccount adds a local account.
func (c *Client) CreateAccount(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPost, PathAccounts, nil, NewAccount{Name: name, Password: password}, nil)
}

// SetPassword sets another account's password (an administrator's call).
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPut, PathAccounts+"/"+url.PathEscape(name)+"/password", nil, PasswordChange{New: password}, nil)
}

// DeleteAccount removes a local account.
func (c *Client) DeleteAccount(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, PathAccounts+"/"+url.PathEscape(name), nil, nil, nil)
}

// Tokens lists the API tokens.
func (c *Client) Tokens(ctx context.Context) ([]auth.TokenInfo, error) {
	var l struct{ Items []auth.TokenInfo }
	err := c.do(ctx, http.MethodGet, PathTokens, nil, nil, &l)
	return l.Items, err
}

// RevokeToken deletes an API token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, PathTokens+"/"+url.PathEscape(id), nil, nil, nil)
}

// Preview says what a sync of an Application would do now.
func (c *Client) Preview(ctx context.Context, namespace, name, revision string) (pass.Preview, error) {
	var p pass.Preview
	var q url.Values
	if revision != "" {
		q = url.Values{"revision": {revision}}
	}
	err := c.do(ctx, http.MethodGet, appPathOf(namespace, name)+"/preview", q, nil, &p)
	return p, err
}

// Tree reads an Application's resource tree.
func (c *Client) Tree(ctx context.Context, namespace, name string) (Tree, error) {
	var t Tree
	err := c.do(ctx, http.MethodGet, appPathOf(namespace, name)+"/tree", nil, nil, &t)
	return t, err
}

// ResourceQuery names an object of an Application's tree.
type ResourceQuery struct {
	Group, Kind, Namespace, Name string
}

func (q ResourceQuery) values() url.Values {
	v := url.Values{"kind": {q.Kind}, "name": {q.Name}}
	if q.Group != "" {
		v.Set("group", q.Group)
	}
	if q.Namespace != "" {
		v.Set("namespace", q.Namespace)
	}
	return v
}

// Resource reads one object of an Application's tree; desired adds what Git
// wants of it and the diff.
func (c *Client) Resource(ctx context.Context, namespace, name string, q ResourceQuery, desired bool) (Resource, error) {
	v := q.values()
	if desired {
		v.Set("desired", "true")
	}
	var r Resource
	err := c.do(ctx, http.MethodGet, appPathOf(namespace, name)+"/resource", v, nil, &r)
	return r, err
}

// Restart restarts a workload of an Application.
func (c *Client) Restart(ctx context.Context, namespace, name string, q ResourceQuery) (ActionResult, error) {
	var r ActionResult
	err := c.do(ctx, http.MethodPost, appPathOf(namespace, name)+"/resource/actions/restart", q.values(), nil, &r)
	return r, err
}

// LogOptions select a Pod's log.
type LogOptions struct {
	Namespace, Pod, Container string
	TailLines                 int
	Follow, Previous          bool
}

// Logs copies a Pod's log to w as it comes.
func (c *Client) Logs(ctx context.Context, namespace, name string, o LogOptions, w io.Writer) error {
	q := url.Values{"pod": {o.Pod}}
	for k, v := range map[string]string{"namespace": o.Namespace, "container": o.Container} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.TailLines > 0 {
		q.Set("tailLines", strconv.Itoa(o.TailLines))
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	// A followed log runs as long as the server allows (30 minutes), not
	// the client's usual timeout.
	stream := *c
	stream.http = &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect}
	resp, err := stream.get(ctx, appPathOf(namespace, name)+"/logs", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Rollback writes a rollback of an Application as a commit and holds it.
func (c *Client) Rollback(ctx context.Context, namespace, name string, req RollbackRequest) (release.RollbackResult, error) {
	var res release.RollbackResult
	err := c.do(ctx, http.MethodPost, appPathOf(namespace, name)+"/rollback", nil, req, &res)
	return res, err
}

// Promote writes a promotion into an Application as a commit.
func (c *Client) Promote(ctx context.Context, namespace, name string, req PromoteRequest) (release.PromotionResult, error) {
	var res release.PromotionResult
	err := c.do(ctx, http.MethodPost, appPathOf(namespace, name)+"/promote", nil, req, &res)
	return res, err
}

// Hold puts a hold on an Application's automation; Release clears it.
func (c *Client) Hold(ctx context.Context, namespace, name, reason string) (ActionResult, error) {
	var r ActionResult
	err := c.do(ctx, http.MethodPut, appPathOf(namespace, name)+"/hold", nil, HoldRequest{Reason: reason}, &r)
	return r, err
}

// Release clears an Application's hold.
func (c *Client) Release(ctx context.Context, namespace, name string) (ActionResult, error) {
	var r ActionResult
	err := c.do(ctx, http.MethodDelete, appPathOf(namespace, name)+"/hold", nil, nil, &r)
	return r, err
}
