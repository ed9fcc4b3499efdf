package gitea

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Repo is a repository of the administrator's.
type Repo struct {
	Owner, Name string
	// CloneURL is its Git URL over HTTP (HTTPS with Options.HTTPS),
	// without credentials.
	CloneURL string
	// HTMLURL is its page (as Lockstep's Application would name it without
	// .git).
	HTMLURL string
}

// FullName is "owner/name", as the API's paths take it.
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// CreateRepo creates an empty public repository whose default branch is
// main.
func (s *Server) CreateRepo(ctx context.Context, name string) (Repo, error) {
	var got struct {
		Name     string `json:"name"`
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
		Owner    struct {
			Login string `json:"login"`
		} `json:"owner"`
	}
	in := map[string]any{"name": name, "private": false, "default_branch": "main"}
	if err := s.API(ctx, "POST", "/user/repos", in, &got); err != nil {
		return Repo{}, err
	}
	return Repo{Owner: got.Owner.Login, Name: got.Name, CloneURL: got.CloneURL, HTMLURL: got.HTMLURL}, nil
}

// Commit pushes a commit to branch (main when empty) of repo with git over
// HTTP(S), as a developer would: files (slash-separated paths to contents) are
// written over the branch's tree, or an empty one when the branch does not
// exist yet. It returns the commit's hash. A push fires the repository's
// webhooks.
func (s *Server) Commit(ctx context.Context, repo Repo, branch string, files map[string]string, message string) (string, error) {
	if branch == "" {
		branch = "main"
	}
	work, err := os.MkdirTemp(s.Dir, "clone-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	g := s.git(work)
	if _, err := g(ctx, "init", "-q", "-b", branch); err != nil {
		return "", err
	}
	exists, err := g(ctx, "ls-remote", "--heads", repo.CloneURL, branch)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(exists) != "" {
		if _, err := g(ctx, "fetch", "-q", "--depth=1", repo.CloneURL, branch); err != nil {
			return "", err
		}
		if _, err := g(ctx, "reset", "-q", "--hard", "FETCH_HEAD"); err != nil {
			return "", err
		}
	}
	for name, content := range files {
		path := filepath.Join(work, filepath.FromSlash(name))
		rel, err := filepath.Rel(work, path)
		if err != nil || rel == "." || rel == ".git" || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." ||
			strings.HasPrefix(rel, ".git"+string(filepath.Separator)) {
			return "", fmt.Errorf("gitea: file %q is outside the work tree", name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if _, err := g(ctx, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := g(ctx, "commit", "-q", "--allow-empty", "-m", message); err != nil {
		return "", err
	}
	if _, err := g(ctx, "push", "-q", repo.CloneURL, "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	sha, err := g(ctx, "rev-parse", "HEAD")
	return strings.TrimSpace(sha), err
}

// git returns a runner of git in dir as the administrator: its identity,
// basic auth on every request to this server (never in a URL, so never in
// an error), its CA over HTTPS, and none of the machine's global
// configuration.
func (s *Server) git(dir string) func(ctx context.Context, args ...string) (string, error) {
	auth := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(Username+":"+Password))
	return func(ctx context.Context, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		full := append([]string{
			"-c", "http." + s.URL + "/.extraHeader=" + auth,
			"-c", "user.name=Lockstep Tests", "-c", "user.email=" + Email,
			"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main",
		}, args...)
		cmd := exec.CommandContext(ctx, "git", full...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "HOME="+dir)
		if s.CAFile != "" {
			// The variable, not http.sslCAInfo: one set in the caller's
			// environment would win over the configuration.
			cmd.Env = append(cmd.Env, "GIT_SSL_CAINFO="+s.CAFile)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %w\n%s", args[0], err, tail(out, 2000))
		}
		return string(out), nil
	}
}

// Webhook is a repository webhook of Gitea's own kind: JSON bodies signed
// with HMAC-SHA256 of Secret in X-Gitea-Signature (hex), the event named in
// X-Gitea-Event.
type Webhook struct {
	// URL receives the deliveries; a loopback address unless
	// Options.WebhookHosts allows others.
	URL    string
	Secret string
	// Events are Gitea's event names; ["push"] when empty.
	Events []string
}

// AddWebhook adds hook to repo and returns its ID.
func (s *Server) AddWebhook(ctx context.Context, repo Repo, hook Webhook) (int64, error) {
	if len(hook.Events) == 0 {
		hook.Events = []string{"push"}
	}
	in := map[string]any{
		"type":   "gitea",
		"active": true,
		"events": hook.Events,
		"config": map[string]string{"url": hook.URL, "content_type": "json", "secret": hook.Secret},
	}
	var got struct {
		ID int64 `json:"id"`
	}
	err := s.API(ctx, "POST", "/repos/"+url.PathEscape(repo.Owner)+"/"+url.PathEscape(repo.Name)+"/hooks", in, &got)
	return got.ID, err
}

// Status is one commit status as the API returns it.
type Status struct {
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// Statuses returns the latest status of each context on ref (a commit hash
// or a branch), and their combined state.
func (s *Server) Statuses(ctx context.Context, repo Repo, ref string) (combined string, statuses []Status, err error) {
	var got struct {
		State    string   `json:"state"`
		Statuses []Status `json:"statuses"`
	}
	path := "/repos/" + url.PathEscape(repo.Owner) + "/" + url.PathEscape(repo.Name) + "/commits/" + url.PathEscape(ref) + "/status"
	if err := s.API(ctx, "GET", path, nil, &got); err != nil {
		return "", nil, err
	}
	return got.State, got.Statuses, nil
}
