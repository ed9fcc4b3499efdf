package source_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

const password = "pw-reader"

type fixture struct {
	server *gitserver.Server
	repo   *gitserver.Repo
	cache  *source.Cache
	req    source.Request
	caPEM  []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, err := gitserver.Start(t.Context(), gitserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddUser("reader", password, gitserver.Read)
	repo, err := s.CreateRepo("config")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		server: s, repo: repo, cache: source.NewCache(t.TempDir()), caPEM: ca,
		req: source.Request{URL: s.HTTPSURL("config"), Auth: source.Auth{Username: "reader", Password: password, CABundle: ca}},
	}
}

func (f *fixture) commit(t *testing.T, files map[string]string, message string) string {
	t.Helper()
	data := map[string][]byte{}
	for k, v := range files {
		data[k] = []byte(v)
	}
	h, err := f.repo.Commit(gitserver.CommitOptions{Files: data, Message: message,
		Author: gitserver.Person{Name: "Ada", Email: "ada@example.com"}, Committer: gitserver.Person{Name: "Merge Bot", Email: "bot@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) fetch(t *testing.T, req source.Request, maxAge time.Duration) *source.Snapshot {
	t.Helper()
	snap, err := f.cache.Fetch(t.Context(), req, source.FetchOptions{MaxAge: maxAge})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return snap
}

func TestFetchDefaultBranchOverHTTPS(t *testing.T) {
	f := newFixture(t)
	head := f.commit(t, map[string]string{"apps/web/deploy.yaml": "kind: Deployment\n", "README.md": "hi\n"},
		"Raise web replicas to 3\n\nBecause traffic doubled.\n\nRefs: OPS-42\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n")
	snap := f.fetch(t, f.req, 0)
	c := snap.Commit
	if c.Hash != head || c.Ref != "refs/heads/main" {
		t.Errorf("commit %s at %s, want %s at refs/heads/main", c.Hash, c.Ref, head)
	}
	if c.Author != "Ada <ada@example.com>" || c.Committer != "Merge Bot <bot@example.com>" || c.Subject != "Raise web replicas to 3" {
		t.Errorf("metadata = %q / %q / %q", c.Author, c.Committer, c.Subject)
	}
	if diff := cmp.Diff([]string{"Bob <bob@example.com>", "Carol <carol@example.com>"}, c.TrailerValues("approved-by")); diff != "" {
		t.Errorf("Approved-by (-want +got):\n%s", diff)
	}
	if c.Signature != "" || c.SignedPayload != nil {
		t.Errorf("unsigned commit reports a signature")
	}
	if err := fstest.TestFS(snap.Files, "README.md", "apps/web/deploy.yaml"); err != nil {
		t.Errorf("snapshot is not a well-behaved fs.FS: %v", err)
	}
	data, err := fs.ReadFile(snap.Files, "apps/web/deploy.yaml")
	if err != nil || string(data) != "kind: Deployment\n" {
		t.Errorf("deploy.yaml = %q, %v", data, err)
	}
}

// Doing nothing costs nothing: a fresh resolution is reused without the network,
// an unchanged ref costs a ref listing but no fetch, and concurrent callers share
// one fetch.
func TestFetchIsSharedAndCached(t *testing.T) {
	f := newFixture(t)
	first := f.commit(t, map[string]string{"a.yaml": "1"}, "one")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if snap, err := f.cache.Fetch(t.Context(), f.req, source.FetchOptions{MaxAge: time.Minute}); err != nil || snap.Commit.Hash != first {
				t.Errorf("concurrent Fetch: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := f.cache.Fetches(f.req.URL); n != 1 {
		t.Errorf("10 concurrent fetches made %d network fetches, want 1", n)
	}
	second := f.commit(t, map[string]string{"a.yaml": "2"}, "two")
	if got := f.fetch(t, f.req, time.Minute).Commit.Hash; got != first {
		t.Errorf("within MaxAge got %s, want the cached %s", got, first)
	}
	if got := f.fetch(t, f.req, 0).Commit.Hash; got != second {
		t.Errorf("MaxAge 0 got %s, want the new head %s", got, second)
	}
	before := f.cache.Fetches(f.req.URL)
	f.fetch(t, f.req, 0)
	if after := f.cache.Fetches(f.req.URL); after != before {
		t.Errorf("an unchanged head was fetched again (%d → %d fetches)", before, after)
	}
}

func TestFetchFollowsTagsSemverAndCommits(t *testing.T) {
	f := newFixture(t)
	v1 := f.commit(t, map[string]string{"v": "1.0.0"}, "release 1.0.0")
	if err := f.repo.Tag("v1.0.0", v1, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	v11 := f.commit(t, map[string]string{"v": "1.1.0"}, "release 1.1.0")
	if err := f.repo.Tag("v1.1.0", v11, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	v2 := f.commit(t, map[string]string{"v": "2.0.0"}, "release 2.0.0")
	if err := f.repo.Tag("v2.0.0", v2, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Tag("not-a-version", v2, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref      source.Ref
		wantHash string
		wantRef  string
	}{
		{source.Ref{Tag: "v1.0.0"}, v1, "refs/tags/v1.0.0"},
		{source.Ref{Semver: "^1.0"}, v11, "refs/tags/v1.1.0"},
		{source.Ref{Semver: ">=1.0.0"}, v2, "refs/tags/v2.0.0"},
		{source.Ref{Commit: v1}, v1, ""},
		{source.Ref{Branch: "main"}, v2, "refs/heads/main"},
	}
	for _, tc := range cases {
		req := f.req
		req.Ref = tc.ref
		snap := f.fetch(t, req, 0)
		if snap.Commit.Hash != tc.wantHash || snap.Commit.Ref != tc.wantRef {
			t.Errorf("%s: got %s at %q, want %s at %q", tc.ref, snap.Commit.Hash, snap.Commit.Ref, tc.wantHash, tc.wantRef)
		}
		if data, _ := fs.ReadFile(snap.Files, "v"); tc.ref.Commit == "" && tc.ref.Branch == "" && !strings.HasPrefix(tc.wantRef, "refs/tags/v"+string(data)) {
			t.Errorf("%s: file v = %q does not match the tag", tc.ref, data)
		}
	}
}

func TestFetchErrorsSayWhatToFix(t *testing.T) {
	f := newFixture(t)
	f.commit(t, map[string]string{"a": "1"}, "one")
	cases := []struct {
		name      string
		mutate    func(*source.Request)
		want      string
		transient bool
	}{
		{"missing branch", func(r *source.Request) { r.Ref = source.Ref{Branch: "nope"} }, "refs/heads/nope not found", false},
		{"no matching tag", func(r *source.Request) { r.Ref = source.Ref{Semver: "^9"} }, `no tag matches semver range "^9"`, false},
		{"bad range", func(r *source.Request) { r.Ref = source.Ref{Semver: "not a range"} }, "invalid semver range", false},
		{"two refs", func(r *source.Request) { r.Ref = source.Ref{Branch: "main", Tag: "v1"} }, "at most one", false},
		{"short commit", func(r *source.Request) { r.Ref = source.Ref{Commit: "abc123"} }, "not a full 40-character hash", false},
		{"hostile branch", func(r *source.Request) { r.Ref = source.Ref{Branch: "--upload-pack=evil"} }, "not a valid Git ref name", false},
		{"wrong password", func(r *source.Request) { r.Auth.Password = "wrong" }, "authentication", false},
		{"untrusted CA", func(r *source.Request) { r.Auth.CABundle = nil }, "certificate", false},
		{"missing repository", func(r *source.Request) { r.URL = f.server.HTTPSURL("missing") }, "not found", false},
		{"file URL", func(r *source.Request) { r.URL = "file:///etc" }, "must start with https:// or ssh://", false},
		{"plain http", func(r *source.Request) { r.URL = "http://127.0.0.1/x.git" }, "must start with https:// or ssh://", false},
		{"local path", func(r *source.Request) { r.URL = "/srv/git/x.git" }, "must start with https:// or ssh://", false},
		{"password in URL", func(r *source.Request) { r.URL = "https://u:p@127.0.0.1/x.git" }, "must not hold a password", false},
		{"server down", func(r *source.Request) { r.URL = "https://127.0.0.1:1/x.git" }, "connection refused", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := f.req
			tc.mutate(&req)
			_, err := f.cache.Fetch(t.Context(), req, source.FetchOptions{})
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *source.Error", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if se.Transient != tc.transient {
				t.Errorf("Transient = %v, want %v (err %v)", se.Transient, tc.transient, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestFetchOverSSH(t *testing.T) {
	f := newFixture(t)
	head := f.commit(t, map[string]string{"a": "1"}, "one")
	key, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	f.server.AuthorizeKey("reader", key.Signer.PublicKey())
	req := source.Request{URL: f.server.SSHURL("config"), Auth: source.Auth{SSHPrivateKey: key.PrivateKeyPEM, KnownHosts: []byte(f.server.KnownHosts() + "\n")}}
	if got := f.fetch(t, req, 0).Commit.Hash; got != head {
		t.Errorf("SSH fetch got %s, want %s", got, head)
	}

	other, err := gitserver.NewSSHKey() // a host key that is not the server's
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := strings.Cut(f.server.KnownHosts(), " ")
	wrongHosts := host + " " + other.AuthorizedKey()
	cases := []struct {
		name   string
		mutate func(*source.Request)
		want   string
	}{
		{"wrong host key", func(r *source.Request) { r.Auth.KnownHosts = []byte(wrongHosts + "\n") }, "knownhosts: key mismatch"},
		{"no known_hosts", func(r *source.Request) { r.Auth.KnownHosts = nil }, "needs known_hosts"},
		{"no key", func(r *source.Request) { r.Auth.SSHPrivateKey = nil }, "needs an SSH private key"},
		{"garbage key", func(r *source.Request) { r.Auth.SSHPrivateKey = []byte("not a key") }, "parsing the SSH private key"},
		{"unauthorized key", func(r *source.Request) { r.Auth.SSHPrivateKey = other.PrivateKeyPEM }, "unable to authenticate"},
	}
	for _, tc := range cases {
		r := req
		tc.mutate(&r)
		_, err := source.NewCache(t.TempDir()).Fetch(t.Context(), r, source.FetchOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestSnapshotShowsSymlinksWithoutFollowingThem(t *testing.T) {
	f := newFixture(t)
	if _, err := f.repo.Commit(gitserver.CommitOptions{
		Files:    map[string][]byte{"app/cm.yaml": []byte("x")},
		Symlinks: map[string]string{"app/passwd.yaml": "/etc/passwd", "app/up.yaml": "../../secret"},
		Message:  "links",
	}); err != nil {
		t.Fatal(err)
	}
	snap := f.fetch(t, f.req, 0)
	for _, name := range []string{"app/passwd.yaml", "app/up.yaml"} {
		fi, err := fs.Lstat(snap.Files, name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: mode %v, err %v; want a symlink", name, fi.Mode(), err)
		}
	}
	entries, err := fs.ReadDir(snap.Files, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "cm.yaml" && e.Type()&fs.ModeSymlink == 0 {
			t.Errorf("ReadDir reports %s as %v, want a symlink", e.Name(), e.Type())
		}
	}
}

// A followed annotated tag comes with its signature and the bytes it signs,
// which verify against the signing key; a branch has no tag.
func TestFetchReturnsTheSignedTag(t *testing.T) {
	f := newFixture(t)
	key, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	head := f.commit(t, map[string]string{"v": "1"}, "release")
	if err := f.repo.Tag("v1.0.0", head, gitserver.TagOptions{Signer: key, Tagger: gitserver.Person{Name: "Rel", Email: "rel@example.com"}}); err != nil {
		t.Fatal(err)
	}
	req := f.req
	req.Ref = source.Ref{Semver: "^1"}
	snap := f.fetch(t, req, 0)
	if snap.Tag == nil || snap.Tag.Name != "v1.0.0" || snap.Tag.Tagger != "Rel <rel@example.com>" || snap.Commit.Hash != head {
		t.Fatalf("tag = %+v, commit %s", snap.Tag, snap.Commit.Hash)
	}
	keys := &verify.KeyRing{}
	if err := keys.Add("allowed_signers", []byte("rel@example.com "+key.AuthorizedKey())); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(snap.Tag.SignedPayload, snap.Tag.Signature); err != nil {
		t.Errorf("the tag's signature does not verify: %v", err)
	}
	if _, err := keys.Verify(snap.Commit.SignedPayload, snap.Commit.Signature); err == nil {
		t.Error("the unsigned commit verified")
	}
	if snap := f.fetch(t, f.req, 0); snap.Tag != nil {
		t.Errorf("branch has tag %+v", snap.Tag)
	}
}

// A push event outdates what the cache knows: the next requests ask the
// server, however fresh a resolution they would otherwise reuse, and share
// one fetch made after the push.
func TestOutdateMakesTheNextRequestsAskOnce(t *testing.T) {
	f := newFixture(t)
	first := f.commit(t, map[string]string{"a.yaml": "1"}, "one")
	f.fetch(t, f.req, time.Hour)
	second := f.commit(t, map[string]string{"a.yaml": "2"}, "two")
	if got := f.fetch(t, f.req, time.Hour).Commit.Hash; got != first {
		t.Fatalf("before the push event got %s, want the cached %s", got, first)
	}
	f.cache.Outdate(f.req.URL, time.Now())
	f.cache.Outdate("https://elsewhere.example/unknown.git", time.Now()) // nothing cached: nothing to do
	before := f.cache.Fetches(f.req.URL)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if snap, err := f.cache.Fetch(t.Context(), f.req, source.FetchOptions{MaxAge: time.Hour}); err != nil || snap.Commit.Hash != second {
				t.Errorf("after the push event: %v, %v", snap, err)
			}
		})
	}
	wg.Wait()
	if n := f.cache.Fetches(f.req.URL) - before; n != 1 {
		t.Errorf("10 requests after a push event made %d fetches, want 1", n)
	}
	// An older event changes nothing.
	f.cache.Outdate(f.req.URL, time.Now().Add(-time.Hour))
	if got := f.fetch(t, f.req, time.Hour).Commit.Hash; got != second {
		t.Errorf("got %s, want %s", got, second)
	}
}

// A password wrongly put in a repository's URL never reaches an error
// message (which reaches statuses, Events and notifications).
func TestFetchErrorsHideAPasswordInTheURL(t *testing.T) {
	c := source.NewCache(t.TempDir())
	_, err := c.Fetch(t.Context(), source.Request{URL: "https://bot:glpat-s3cret@git.internal/team/app.git"}, source.FetchOptions{})
	if err == nil || strings.Contains(err.Error(), "glpat-s3cret") || !strings.Contains(err.Error(), "git.internal/team/app.git") {
		t.Errorf("error %v", err)
	}
	if got := object.RedactedURL("ssh://git@git.internal/app.git"); got != "ssh://git@git.internal/app.git" {
		t.Errorf("a user name alone is kept: %s", got)
	}
}

// Passwords that net/url refuses to parse, and tokens used as the user
// name, are hidden too.
func TestRedactedHidesEveryCredential(t *testing.T) {
	for _, raw := range []string{
		"https://bot:s3cret%zz@git.internal/team/app.git",
		"https://bot:s3c/ret@git.internal/team/app.git",
		"https://bot:s3cret@git.internal:badport/team/app.git",
		"https://ghp_s3cret@github.com/o/r.git",
		"ssh://git:s3cret@git.internal/app.git",
	} {
		got := object.RedactedURL(raw)
		if strings.Contains(got, "s3c") || !strings.Contains(got, "REDACTED@") {
			t.Errorf("Redacted(%q) = %q", raw, got)
		}
		c := source.NewCache(t.TempDir())
		if _, err := c.Fetch(t.Context(), source.Request{URL: raw}, source.FetchOptions{}); err == nil || strings.Contains(err.Error(), "s3c") {
			t.Errorf("fetching %q: %v", raw, err)
		}
	}
}
