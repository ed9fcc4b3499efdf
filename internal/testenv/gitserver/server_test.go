package gitserver_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

const (
	writerPassword = "s3cret-writer"
	readerPassword = "s3cret-reader"
)

type fixture struct {
	server *gitserver.Server
	repo   *gitserver.Repo
	head   string
}

// newFixture starts a server with a writer and a reader and one repository
// holding one commit.
func newFixture(t *testing.T) fixture {
	t.Helper()
	s, err := gitserver.Start(t.Context(), gitserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddUser("writer", writerPassword, gitserver.ReadWrite)
	s.AddUser("reader", readerPassword, gitserver.Read)
	repo, err := s.CreateRepo("team/app")
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Commit(gitserver.CommitOptions{
		Files:   map[string][]byte{"deploy/app.yaml": []byte("kind: ConfigMap\n"), "README.md": []byte("hello\n")},
		Message: "first",
	})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{server: s, repo: repo, head: head}
}

// gitCmd runs git with no user or system configuration, so the developer's own
// settings cannot change the outcome.
func gitCmd(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	var inherited []string
	for _, kv := range os.Environ() { // the developer's GIT_* settings must not leak in
		if !strings.HasPrefix(kv, "GIT_") {
			inherited = append(inherited, kv)
		}
	}
	cmd.Env = append(inherited,
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Tester", "GIT_AUTHOR_EMAIL=tester@lockstep.invalid",
		"GIT_COMMITTER_NAME=Tester", "GIT_COMMITTER_EMAIL=tester@lockstep.invalid")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := gitCmd(t, dir, env, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func withCredentials(url, user, password string) string {
	return strings.Replace(url, "https://", "https://"+user+":"+password+"@", 1)
}

func TestCloneOverHTTPS(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	env := []string{"GIT_SSL_CAINFO=" + f.server.CAFile}
	mustGit(t, dir, env, "clone", withCredentials(f.server.HTTPSURL("team/app"), "reader", readerPassword), "app")
	got, err := os.ReadFile(filepath.Join(dir, "app", "deploy", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "kind: ConfigMap\n" {
		t.Errorf("deploy/app.yaml = %q", got)
	}
	if head := strings.TrimSpace(mustGit(t, filepath.Join(dir, "app"), nil, "rev-parse", "HEAD")); head != f.head {
		t.Errorf("cloned HEAD = %s, want %s", head, f.head)
	}
}

func TestHTTPSRefusesBadCredentialsAndUntrustedCA(t *testing.T) {
	f := newFixture(t)
	url := f.server.HTTPSURL("team/app")
	ca := []string{"GIT_SSL_CAINFO=" + f.server.CAFile}
	cases := []struct {
		name string
		url  string
		env  []string
		want string
	}{
		{"wrong password", withCredentials(url, "reader", "wrong"), ca, "Authentication failed"},
		{"unknown user", withCredentials(url, "mallory", readerPassword), ca, "Authentication failed"},
		{"no credentials", url, ca, "could not read Username"},
		{"CA not trusted", withCredentials(url, "reader", readerPassword), nil, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := gitCmd(t, t.TempDir(), tc.env, "clone", tc.url, "app")
			if err == nil {
				t.Fatalf("clone succeeded, want refusal")
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("git said %q, want it to mention %q", out, tc.want)
			}
		})
	}
}

func TestPushOverHTTPSNeedsWriteAccess(t *testing.T) {
	f := newFixture(t)
	env := []string{"GIT_SSL_CAINFO=" + f.server.CAFile}
	dir := t.TempDir()
	mustGit(t, dir, env, "clone", withCredentials(f.server.HTTPSURL("team/app"), "writer", writerPassword), "app")
	work := filepath.Join(dir, "app")
	if err := os.WriteFile(filepath.Join(work, "new.yaml"), []byte("kind: Service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, nil, "add", "new.yaml")
	mustGit(t, work, nil, "commit", "-m", "add a service")
	pushed := strings.TrimSpace(mustGit(t, work, nil, "rev-parse", "HEAD"))

	readerURL := withCredentials(f.server.HTTPSURL("team/app"), "reader", readerPassword)
	out, err := gitCmd(t, work, env, "push", readerURL, "HEAD:main")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("push as reader: err = %v, output %q; want a 403 refusal", err, out)
	}
	if head, _ := f.repo.Head("main"); head != f.head {
		t.Fatalf("a refused push moved main to %s", head)
	}

	mustGit(t, work, env, "push", "origin", "HEAD:main")
	if head, _ := f.repo.Head("main"); head != pushed {
		t.Errorf("main = %s after push, want %s", head, pushed)
	}
}

func TestHTTPSRefusesPathsOutsideTheRepositories(t *testing.T) {
	f := newFixture(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: caTLS(t, f.server.CAFile)}}
	base := strings.TrimSuffix(f.server.HTTPSURL("x"), "/x.git")
	for _, path := range []string{
		"/../../etc/passwd.git/info/refs",
		"/team/../../outside.git/info/refs?service=git-upload-pack",
		"/%2e%2e/outside.git/info/refs",
		"/missing.git/info/refs?service=git-upload-pack",
		"/team/app/info/refs", // no .git: not a repository URL
		"/.git/info/refs",
		"/team/app.git/../../../../etc/HEAD",
		"/team/app.git/./info/refs",
		"//team/app.git/info/refs",
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("reader", readerPassword)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 404 or 400", path, resp.Status)
		}
	}
}
