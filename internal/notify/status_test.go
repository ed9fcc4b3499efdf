package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// GitLab and GitHub cannot run on this machine (no Docker, no downloads
// but Go modules, Debian packages and npm), so their commit statuses are
// checked here against HTTP test servers that hold each request to the
// shape their API documentation gives (cited in status_gitlab.go and
// status_github.go). Gitea can, and is tested for real in
// status_gitea_test.go.

const statusToken = "glpat-s3cr3t-t0ken-value"

// statusMessage is a message about a commit that was applied and is still
// progressing.
func statusMessage(repository string) Message {
	return Message{
		Trigger:     SyncSucceeded,
		Severity:    Info,
		Time:        time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Application: "team-a/web",
		Project:     "team-a",
		Repository:  repository,
		Revision:    "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		Sync:        "Synced",
		Health:      "Progressing",
		Summary:     "2 created, 1 updated, 0 pruned",
		URL:         "https://lockstep.internal/applications/team-a/web",
	}
}

// statusRequest is one request a statusServer test double got.
type statusRequest struct {
	Method, Path string // Path escaped, as sent
	Header       http.Header
	Body         map[string]any
}

// fakeForge is an HTTPS test server standing in for GitLab or GitHub (see
// the comment at the top): it records requests and answers with answer
// (201 when nil).
type fakeForge struct {
	*httptest.Server
	roots  *x509.CertPool
	mu     sync.Mutex
	got    []statusRequest
	answer func(w http.ResponseWriter, r *http.Request)
}

func newFakeForge(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *fakeForge {
	t.Helper()
	f := &fakeForge{answer: answer}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil {
			t.Errorf("%s %s: the body is not JSON: %q", r.Method, r.URL.EscapedPath(), data)
		}
		f.mu.Lock()
		f.got = append(f.got, statusRequest{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		if f.answer != nil {
			f.answer(w, r)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 1}`))
	}))
	t.Cleanup(f.Close)
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.Certificate())
	return f
}

func (f *fakeForge) requests() []statusRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statusRequest(nil), f.got...)
}

func (f *fakeForge) writer(t *testing.T, kind Type, address string) Provider {
	t.Helper()
	p, err := NewStatus(StatusConfig{Type: kind, Address: address, Token: statusToken, RootCAs: f.roots, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewStatus(%s, %s): %v", kind, address, err)
	}
	return p
}

func TestStatusGitLabRequest(t *testing.T) {
	f := newFakeForge(t, nil)
	host := strings.TrimPrefix(f.URL, "https://")
	for _, tc := range []struct {
		name, address, repository, project string
	}{
		{"subgroups", f.URL, "https://gitlab.example.org/platform/team-a/web.git", "platform%2Fteam-a%2Fweb"},
		{"scp-like", f.URL, "git@gitlab.example.org:team-a/web.git", "team-a%2Fweb"},
		{"under a relative root", f.URL + "/gitlab", "https://" + host + "/gitlab/team-a/web", "team-a%2Fweb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.requests())
			if err := f.writer(t, GitLab, tc.address).Send(t.Context(), statusMessage(tc.repository)); err != nil {
				t.Fatal(err)
			}
			got := f.requests()[before:]
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			prefix := strings.TrimPrefix(tc.address, f.URL)
			wantPath := prefix + "/api/v4/projects/" + tc.project + "/statuses/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
			if r.Method != http.MethodPost || r.Path != wantPath {
				t.Errorf("%s %s, want POST %s", r.Method, r.Path, wantPath)
			}
			if r.Header.Get("PRIVATE-TOKEN") != statusToken || r.Header.Get("Authorization") != "" {
				t.Errorf("PRIVATE-TOKEN %q, Authorization %q: want the token in PRIVATE-TOKEN only", r.Header.Get("PRIVATE-TOKEN"), r.Header.Get("Authorization"))
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			want := map[string]any{
				"state":       "running",
				"name":        "lockstep/team-a/web",
				"target_url":  "https://lockstep.internal/applications/team-a/web",
				"description": "Synced, Progressing: 2 created, 1 updated, 0 pruned",
			}
			if diff := cmp.Diff(want, r.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusGitHubRequest(t *testing.T) {
	f := newFakeForge(t, nil)
	for _, tc := range []struct {
		name, address, repository string
	}{
		{"github.com form", f.URL, "https://github.com/team-a/web.git"},
		{"Enterprise Server", f.URL + "/api/v3", "git@ghe.example.org:team-a/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.requests())
			m := statusMessage(tc.repository)
			m.Trigger, m.Health = Deployed, "Healthy"
			if err := f.writer(t, GitHub, tc.address).Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			got := f.requests()[before:]
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			wantPath := strings.TrimPrefix(tc.address, f.URL) + "/repos/team-a/web/statuses/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
			if r.Method != http.MethodPost || r.Path != wantPath {
				t.Errorf("%s %s, want POST %s", r.Method, r.Path, wantPath)
			}
			for name, want := range map[string]string{
				"Authorization":        "Bearer " + statusToken,
				"Accept":               "application/vnd.github+json",
				"X-GitHub-Api-Version": "2022-11-28",
				"Content-Type":         "application/json",
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			want := map[string]any{
				"state":       "success",
				"context":     "lockstep/team-a/web",
				"target_url":  "https://lockstep.internal/applications/team-a/web",
				"description": "Deployed: 2 created, 1 updated, 0 pruned",
			}
			if diff := cmp.Diff(want, r.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatusStates maps each outcome to each server's state.
func TestStatusStates(t *testing.T) {
	for _, tc := range []struct {
		trigger               Trigger
		health                string
		gitea, gitlab, github string
	}{
		{Deployed, "Healthy", "success", "success", "success"},
		{SyncSucceeded, "Healthy", "success", "success", "success"},
		{SyncSucceeded, "Progressing", "pending", "running", "pending"},
		{SyncSucceeded, "Suspended", "pending", "running", "pending"},
		{SyncSucceeded, "Degraded", "failure", "failed", "failure"},
		{DriftReverted, "Healthy", "success", "success", "success"},
		{HealthDegraded, "Degraded", "failure", "failed", "failure"},
		{PolicyDenied, "", "failure", "failed", "failure"},
		{VerificationFailed, "", "failure", "failed", "failure"},
		{SyncFailed, "Healthy", "error", "failed", "error"},
		{ApprovalMissing, "", "pending", "pending", "pending"},
	} {
		m := Message{Trigger: tc.trigger, Health: tc.health}
		s, ok := stateOf(m)
		if !ok {
			t.Errorf("%s/%s sets no status", tc.trigger, tc.health)
			continue
		}
		got := [3]string{giteaStates[s], gitlabStates[s], githubStates[s]}
		if want := [3]string{tc.gitea, tc.gitlab, tc.github}; got != want {
			t.Errorf("%s/%s: gitea, gitlab, github = %v, want %v", tc.trigger, tc.health, got, want)
		}
	}
	if _, ok := stateOf(Message{Trigger: DriftDetected, Health: "Healthy"}); ok {
		t.Error("DriftDetected sets a status; it says nothing of the commit")
	}
}

func TestStatusDriftDetectedSendsNothing(t *testing.T) {
	f := newFakeForge(t, nil)
	m := statusMessage("https://github.com/team-a/web")
	m.Trigger = DriftDetected
	if err := f.writer(t, GitHub, f.URL).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for DriftDetected, want none", n)
	}
}

func TestStatusParseRepository(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		web      bool
		host     string
		segments []string
	}{
		{"https://gitea.example.org/team-a/web.git", true, "gitea.example.org", []string{"team-a", "web"}},
		{"https://gitea.example.org:8443/team-a/web/", true, "gitea.example.org:8443", []string{"team-a", "web"}},
		{"http://10.0.0.5:3000/team-a/web", true, "10.0.0.5:3000", []string{"team-a", "web"}},
		{"https://example.org/gitea/team-a/web.git", true, "example.org", []string{"gitea", "team-a", "web"}},
		{"https://gitlab.example.org/a/b/c/web.git", true, "gitlab.example.org", []string{"a", "b", "c", "web"}},
		{"ssh://git@gitea.example.org:2222/team-a/web.git", false, "gitea.example.org", []string{"team-a", "web"}},
		{"git+ssh://git@github.com/team-a/web", false, "github.com", []string{"team-a", "web"}},
		{"git@github.com:team-a/web.git", false, "github.com", []string{"team-a", "web"}},
		{"gitlab.example.org:group/sub/web", false, "gitlab.example.org", []string{"group", "sub", "web"}},
		{"git@[fd00::1]:team-a/web.git", false, "fd00::1", []string{"team-a", "web"}},
		{"https://github.com/team-a/web.js.git", true, "github.com", []string{"team-a", "web.js"}},
	} {
		loc, err := parseRepository(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if loc.Web != tc.web || loc.Host != tc.host || !cmp.Equal(loc.Segments, tc.segments) {
			t.Errorf("%s: web %v host %q segments %q, want %v %q %q", tc.raw, loc.Web, loc.Host, loc.Segments, tc.web, tc.host, tc.segments)
		}
	}
	for _, raw := range []string{
		"",
		"/srv/git/web.git",
		"file:///srv/git/team-a/web.git",
		"ftp://example.org/team-a/web",
		"https://github.com/web",
		"https://github.com/",
		"https://github.com/team-a//web",
		"https://github.com/team-a/../web",
		"https://github.com/team-a/web?ref=main",
		"https://github.com/team-a/web#main",
		"https://gitlab.example.org/team-a/web/-/tree/main",
		"https://github.com/team-a/we b",
		"https://github.com/team-a/web\r\nX-Injected: 1",
		"git@github.com:team-a/web%2F..",
		"https://github.com/team-a/" + strings.Repeat("w", 3000),
		"https://:443/team-a/web",
		`https://github.com\team-a\web`,
	} {
		if loc, err := parseRepository(raw); err == nil {
			t.Errorf("%q parsed as %+v; want an error", raw, loc)
		} else if len(raw) > 100 && strings.Contains(err.Error(), raw) {
			t.Errorf("%q: the error quotes the whole URL: %v", raw[:20], err)
		}
	}
}

func TestStatusBaseFromRepository(t *testing.T) {
	for _, tc := range []struct {
		kind             Type
		repository, base string
	}{
		{Gitea, "https://gitea.example.org/team-a/web.git", "https://gitea.example.org"},
		{Gitea, "https://example.org:8443/code/gitea/team-a/web", "https://example.org:8443/code/gitea"},
		{Forgejo, "git@codeberg.example:team-a/web.git", "https://codeberg.example"},
		{Gitea, "ssh://git@gitea.example.org:2222/team-a/web.git", "https://gitea.example.org"},
		{GitLab, "https://gitlab.example.org/a/b/web.git", "https://gitlab.example.org"},
		{GitLab, "git@gitlab.example.org:a/b/web.git", "https://gitlab.example.org"},
		{GitHub, "https://github.com/team-a/web", "https://api.github.com"},
		{GitHub, "git@github.com:team-a/web.git", "https://api.github.com"},
		{GitHub, "https://GitHub.com:443/team-a/web", "https://api.github.com"},
		{GitHub, "https://ghe.example.org/team-a/web.git", "https://ghe.example.org/api/v3"},
		{GitHub, "git@ghe.example.org:team-a/web.git", "https://ghe.example.org/api/v3"},
	} {
		loc, err := parseRepository(tc.repository)
		if err != nil {
			t.Fatal(err)
		}
		base, err := statusServers[tc.kind].base(loc)
		if err != nil {
			t.Errorf("%s %s: %v", tc.kind, tc.repository, err)
			continue
		}
		if base.String() != tc.base {
			t.Errorf("%s %s: base %s, want %s", tc.kind, tc.repository, base, tc.base)
		}
	}
	// The token never goes to a host in plain text unless configured so.
	loc, _ := parseRepository("http://gitea.example.org/team-a/web.git")
	for kind, server := range statusServers {
		if base, err := server.base(loc); err == nil {
			t.Errorf("%s: an http:// repository gave the base %s; want a refusal", kind, base)
		}
	}
}

// TestStatusDeliveryErrors: 5xx, 429 and transport failures may pass on a
// later try, other 4xx will not; no error repeats the token, even when the
// server echoes it.
func TestStatusDeliveryErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int
		header     string
		retry      bool
		retryAfter time.Duration
	}{
		{"unavailable", http.StatusServiceUnavailable, "", true, 0},
		{"rate limited", http.StatusTooManyRequests, "7", true, 7 * time.Second},
		{"bad token", http.StatusUnauthorized, "", false, 0},
		{"no such repository", http.StatusNotFound, "", false, 0},
		{"invalid", http.StatusUnprocessableEntity, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeForge(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.code)
				// A server that echoes what it was sent, credentials and all.
				_, _ = io.WriteString(w, `{"message": "refused `+r.Header.Get("Authorization")+r.Header.Get("PRIVATE-TOKEN")+`"}`)
			})
			for _, kind := range StatusTypes {
				err := f.writer(t, kind, f.URL).Send(t.Context(), statusMessage("https://git.example.org/team-a/web.git"))
				var de *DeliveryError
				if !errors.As(err, &de) {
					t.Fatalf("%s: err = %v, want a *DeliveryError", kind, err)
				}
				if de.Retry != tc.retry || de.RetryAfter != tc.retryAfter {
					t.Errorf("%s: Retry %v RetryAfter %s, want %v %s (%v)", kind, de.Retry, de.RetryAfter, tc.retry, tc.retryAfter, err)
				}
				if strings.Contains(err.Error(), statusToken) {
					t.Errorf("%s: the error repeats the token: %v", kind, err)
				}
				if !strings.HasPrefix(err.Error(), "team-a/web at 1a2b3c4: ") {
					t.Errorf("%s: the error does not start with the Application and commit: %v", kind, err)
				}
			}
		})
	}
}

func TestStatusTransportErrorsRetry(t *testing.T) {
	hang := make(chan struct{})
	f := newFakeForge(t, func(w http.ResponseWriter, r *http.Request) { <-hang })
	defer close(hang)
	p := f.writer(t, Gitea, f.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var de *DeliveryError
	if err := p.Send(ctx, statusMessage("https://git.example.org/team-a/web.git")); !errors.As(err, &de) || !de.Retry {
		t.Errorf("a server that hangs: err = %v, want a retryable *DeliveryError", err)
	}

	closed := newFakeForge(t, nil)
	closed.Close() // refuses connections from now on
	if err := closed.writer(t, GitLab, closed.URL).Send(t.Context(), statusMessage("https://git.example.org/team-a/web.git")); !errors.As(err, &de) || !de.Retry {
		t.Errorf("a refused connection: err = %v, want a retryable *DeliveryError", err)
	}
}

// TestStatusGitLabSameStateIsDone: GitLab refuses to move a running status
// to running; that status is already what Lockstep meant to set.
func TestStatusGitLabSameStateIsDone(t *testing.T) {
	f := newFakeForge(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`)
	})
	p := f.writer(t, GitLab, f.URL)
	m := statusMessage("https://gitlab.example.org/team-a/web.git")
	if err := p.Send(t.Context(), m); err != nil {
		t.Errorf("running over running: %v, want nil", err)
	}
	m.Trigger, m.Health = Deployed, "Healthy"
	var de *DeliveryError
	if err := p.Send(t.Context(), m); !errors.As(err, &de) || de.Retry {
		t.Errorf("success refused from running: err = %v, want a final *DeliveryError", err)
	}
}

// TestStatusHostileMessages: what a message carries cannot break the
// request, reach another header, or exceed what the servers take.
func TestStatusHostileMessages(t *testing.T) {
	f := newFakeForge(t, nil)
	huge := strings.Repeat("Deployment/web/web: admission webhook denied the request. ", 200)
	for _, tc := range []struct {
		kind Type
		max  int
	}{{GitHub, 140}, {GitLab, 255}, {Gitea, 255}} {
		before := len(f.requests())
		m := statusMessage("https://git.example.org/team-a/web.git")
		m.Trigger = SyncFailed
		m.Reason = "ApplyFailed"
		m.Summary = "line one\r\nX-Injected: yes\n" + huge + "\x00\x1b[31m\u00e9"
		m.Application = "team-a/web\nX-Evil: 1"
		m.URL = "https://lockstep.internal/" + strings.Repeat("a", 3000)
		if err := f.writer(t, tc.kind, f.URL).Send(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		got := f.requests()[before:]
		if len(got) != 1 {
			t.Fatalf("%s: %d requests", tc.kind, len(got))
		}
		desc, _ := got[0].Body["description"].(string)
		if n := utf8.RuneCountInString(desc); n > tc.max || n < tc.max-2 {
			t.Errorf("%s: description of %d characters, want at most %d (and cut there)", tc.kind, n, tc.max)
		}
		if strings.ContainsAny(desc, "\r\n\x00\x1b") || !strings.HasPrefix(desc, "Sync failed (ApplyFailed): line one X-Injected: yes Deployment") {
			t.Errorf("%s: description %q", tc.kind, desc)
		}
		if _, ok := got[0].Body["target_url"]; ok {
			t.Errorf("%s: a 3000-byte target URL was sent", tc.kind)
		}
		context, _ := got[0].Body["context"].(string)
		if tc.kind == GitLab {
			context, _ = got[0].Body["name"].(string)
		}
		if context != "lockstep/team-a/web X-Evil: 1" {
			t.Errorf("%s: context %q", tc.kind, context)
		}
		if got[0].Header.Get("X-Injected") != "" || got[0].Header.Get("X-Evil") != "" {
			t.Errorf("%s: a header came from the message", tc.kind)
		}
	}

	for name, mutate := range map[string]func(*Message){
		"no revision":         func(m *Message) { m.Revision = "" },
		"a branch":            func(m *Message) { m.Revision = "main" },
		"a short hash":        func(m *Message) { m.Revision = "1a2b3c4" },
		"a path in the hash":  func(m *Message) { m.Revision = "../../../../admin/users/1a2b3c4d5e6f708192a3b4c5d6e7f809" },
		"no repository":       func(m *Message) { m.Repository = "" },
		"a local repository":  func(m *Message) { m.Repository = "/srv/git/web.git" },
		"one path segment":    func(m *Message) { m.Repository = "https://github.com/web" },
		"GitHub with a group": func(m *Message) { m.Repository = "https://github.com/a/b/web" },
	} {
		before := len(f.requests())
		m := statusMessage("https://github.com/team-a/web.git")
		mutate(&m)
		err := f.writer(t, GitHub, f.URL).Send(t.Context(), m)
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retry {
			t.Errorf("%s: err = %v, want a final *DeliveryError", name, err)
		}
		if n := len(f.requests()) - before; n != 0 {
			t.Errorf("%s: %d requests sent", name, n)
		}
	}
}

func TestNewStatusRefusesBadConfigurations(t *testing.T) {
	for name, c := range map[string]StatusConfig{
		"unknown type":         {Type: "bitbucket", Token: statusToken},
		"no token":             {Type: Gitea},
		"token with CR LF":     {Type: GitHub, Token: statusToken + "\r\nX-Injected: yes"},
		"token with a space":   {Type: GitLab, Token: "Bearer " + statusToken},
		"token over http":      {Type: Gitea, Address: "http://gitea.example.org", Token: statusToken},
		"address with a token": {Type: Gitea, Address: "https://user:" + statusToken + "@gitea.example.org", Token: statusToken},
		"address with a query": {Type: GitHub, Address: "https://ghe.example.org/api/v3?access_token=" + statusToken, Token: statusToken},
		"not a URL":            {Type: GitLab, Address: "gitlab.example.org", Token: statusToken},
		"context of two lines": {Type: GitHub, Token: statusToken, Context: "lockstep\nprod"},
		"negative timeout":     {Type: GitHub, Token: statusToken, Timeout: -time.Second},
	} {
		p, err := NewStatus(c)
		if err == nil {
			t.Errorf("%s: NewStatus accepted %+v", name, p)
			continue
		}
		if strings.Contains(err.Error(), statusToken) {
			t.Errorf("%s: the error repeats the token: %v", name, err)
		}
	}
	if _, err := NewStatus(StatusConfig{Type: Gitea, Address: "http://127.0.0.1:3000", Token: statusToken, Insecure: true}); err != nil {
		t.Errorf("http:// with insecure: %v", err)
	}
}
