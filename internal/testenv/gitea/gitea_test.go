package gitea

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fakeBuild(t *testing.T, withBinary bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stampFile), []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	if withBinary {
		if err := os.WriteFile(filepath.Join(dir, binaryName), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEnsureReusesACompleteCacheWithoutBuilding(t *testing.T) {
	dir := fakeBuild(t, true)
	var progress bytes.Buffer
	b, err := Ensure(t.Context(), BuildOptions{Dir: dir, Progress: &progress, GoCommand: "/nonexistent/go"})
	if err != nil {
		t.Fatalf("Ensure on a complete cache: %v", err)
	}
	if b.Binary() != filepath.Join(dir, binaryName) {
		t.Errorf("Binary() = %s", b.Binary())
	}
	if progress.Len() != 0 {
		t.Errorf("a cached Ensure printed %q; it should be silent", progress.String())
	}
}

func TestEnsureRebuildsAnotherVersionAndReportsBuildFailures(t *testing.T) {
	dir := fakeBuild(t, true)
	if err := os.WriteFile(filepath.Join(dir, stampFile), []byte("code.gitea.io/gitea@v1.0.0 tags sqlite\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fakeGo := filepath.Join(t.TempDir(), "go")
	if err := os.WriteFile(fakeGo, []byte("#!/bin/sh\necho 'proxy says no' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	_, err := Ensure(t.Context(), BuildOptions{Dir: dir, Progress: &progress, GoCommand: fakeGo})
	if err == nil || !strings.Contains(err.Error(), "proxy says no") || !strings.Contains(err.Error(), Version) {
		t.Errorf("Ensure with a failing go: err = %v, want the go tool's message and the version", err)
	}
	if !strings.Contains(progress.String(), "once per machine") {
		t.Errorf("no progress message before a build: %q", progress.String())
	}
	if _, err := os.Stat(filepath.Join(dir, stampFile)); !os.IsNotExist(err) {
		t.Errorf("a failed build left the stamp of a complete one (err %v)", err)
	}
}

func TestEnsureWaitsForAnotherBuilderAndHonoursCancellation(t *testing.T) {
	dir := t.TempDir() // empty: a build would be needed
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var progress bytes.Buffer
	_, err = Ensure(ctx, BuildOptions{Dir: dir, Progress: &progress, GoCommand: "/nonexistent/go"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ensure while another process holds the lock: err = %v, want the context's deadline", err)
	}
	if !strings.Contains(progress.String(), "another process is building") {
		t.Errorf("progress %q does not say it is waiting", progress.String())
	}
}

// hookDelivery is what the test's webhook receiver got.
type hookDelivery struct {
	event, signature string
	body             []byte
}

// TestServer runs the real Gitea: a repository, two pushes, a commit status
// set and read back through the API, and a push webhook delivered to a
// receiver on 127.0.0.1 with a valid X-Gitea-Signature.
func TestServer(t *testing.T) {
	s := New(t)
	ctx := t.Context()

	var version struct{ Version string }
	if err := s.API(ctx, "GET", "/version", nil, &version); err != nil {
		t.Fatal(err)
	}
	if "v"+version.Version != Version {
		t.Errorf("the server says it is %q, want %s", version.Version, Version)
	}

	repo, err := s.CreateRepo(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if repo.FullName() != Username+"/app" || !strings.HasPrefix(repo.CloneURL, s.URL+"/") {
		t.Fatalf("CreateRepo = %+v", repo)
	}

	deliveries := make(chan hookDelivery, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		deliveries <- hookDelivery{event: r.Header.Get("X-Gitea-Event"), signature: r.Header.Get("X-Gitea-Signature"), body: body}
	}))
	t.Cleanup(receiver.Close)
	const secret = "webhook-secret-for-tests"
	if _, err := s.AddWebhook(ctx, repo, Webhook{URL: receiver.URL + "/hook", Secret: secret}); err != nil {
		t.Fatal(err)
	}

	first, err := s.Commit(ctx, repo, "", map[string]string{"deploy/app.yaml": "kind: ConfigMap\n"}, "first")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Commit(ctx, repo, "", map[string]string{"README.md": "hello\n"}, "second")
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 40 || second == first {
		t.Fatalf("commits %q then %q", first, second)
	}

	// The second push's delivery says which commit it brought, signed.
	var push struct {
		After string `json:"after"`
	}
	deadline := time.After(30 * time.Second)
	for push.After != second {
		select {
		case d := <-deliveries:
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(d.body)
			if d.event != "push" || d.signature != hex.EncodeToString(mac.Sum(nil)) {
				t.Fatalf("delivery of %q signed %q: not a push with a valid signature", d.event, d.signature)
			}
			if err := json.Unmarshal(d.body, &push); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no push delivery for %s within 30s; the server's log:\n%s", second, s.proc.LogTail(3000))
		}
	}

	status := map[string]string{"state": "success", "context": "lockstep/team-a/web", "description": "Deployed", "target_url": "https://lockstep.example/applications/team-a/web"}
	if err := s.API(ctx, "POST", "/repos/"+repo.FullName()+"/statuses/"+second, status, nil); err != nil {
		t.Fatal(err)
	}
	combined, got, err := s.Statuses(ctx, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{State: "success", Context: "lockstep/team-a/web", Description: "Deployed", TargetURL: "https://lockstep.example/applications/team-a/web"}
	if combined != "success" || len(got) != 1 || got[0] != want {
		t.Errorf("statuses of main: %s %+v, want success [%+v]", combined, got, want)
	}
}

// TestServerOverHTTPS runs the real Gitea over TLS: its API and Git answer
// a client that trusts its CA, and its certificate fails one that does not.
func TestServerOverHTTPS(t *testing.T) {
	s := NewWith(t, Options{HTTPS: true})
	ctx := t.Context()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || s.CAFile == "" || len(s.CAPEM) == 0 {
		t.Fatalf("URL %q, CA file %q, %d bytes of CA: want an https URL and its CA", s.URL, s.CAFile, len(s.CAPEM))
	}
	if onDisk, err := os.ReadFile(s.CAFile); err != nil || !bytes.Equal(onDisk, s.CAPEM) {
		t.Errorf("CAFile does not hold CAPEM (err %v)", err)
	}
	repo, err := s.CreateRepo(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(repo.CloneURL, s.URL+"/") {
		t.Errorf("clone URL %q is not on %s", repo.CloneURL, s.URL)
	}
	// A push runs Gitea's pre-receive hook, which calls its internal API
	// over the same TLS and refuses the push when it cannot.
	sha, err := s.Commit(ctx, repo, "", map[string]string{"deploy/app.yaml": "kind: ConfigMap\n"}, "first")
	if err != nil {
		t.Fatal(err)
	}
	// (Not GET /branches/main: v1.26.0 panics on it, over HTTP too.)
	var refs []struct {
		Ref    string `json:"ref"`
		Object struct {
			SHA string `json:"sha"`
		} `json:"object"`
	}
	if err := s.API(ctx, "GET", "/repos/"+repo.FullName()+"/git/refs/heads/main", nil, &refs); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Object.SHA != sha {
		t.Errorf("refs/heads/main is %+v after pushing %s", refs, sha)
	}

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(s.URL + "/api/v1/version")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a client without the test CA trusted the server's certificate")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v, want a certificate error", err)
	}
}
