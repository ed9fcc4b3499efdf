package gitwrite_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// srv is the package's Git server, started once; each test has its own
// repositories on it.
var (
	srv      *gitserver.Server
	writer   source.Auth
	repoSeq  atomic.Int64
	unsafeRe = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	s, err := gitserver.Start(context.Background(), gitserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	s.AddUser("writer", "secret", gitserver.ReadWrite)
	s.AddUser("reader", "secret", gitserver.Read)
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, writer = s, source.Auth{Username: "writer", Password: "secret", CABundle: ca}
	return m.Run()
}

// newRepo creates an empty repository for this test and returns it with its
// URL.
func newRepo(t *testing.T) (*gitserver.Repo, string) {
	t.Helper()
	name := fmt.Sprintf("%s-%d", strings.Trim(unsafeRe.ReplaceAllString(t.Name(), "-"), "-"), repoSeq.Add(1))
	repo, err := srv.CreateRepo(name)
	if err != nil {
		t.Fatal(err)
	}
	return repo, srv.HTTPSURL(name)
}

// seeded is newRepo with a first commit on main.
func seeded(t *testing.T, files map[string][]byte) (*gitserver.Repo, string, string) {
	t.Helper()
	repo, url := newRepo(t)
	head, err := repo.Commit(gitserver.CommitOptions{Message: "seed\n", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return repo, url, head
}

// request writes edit on main as Ada.
func request(url string, edit gitwrite.Edit) gitwrite.Request {
	return gitwrite.Request{URL: url, Auth: writer, Branch: "main", Edit: edit, Name: "Ada Admin", Email: "ada@example.com", Message: "edit\n"}
}

// sleeps is a Sleep that returns at once, and the waits it was asked for.
func sleeps() (gitwrite.Options, *[]time.Duration) {
	var waits []time.Duration
	opts := gitwrite.Options{Backoff: 100 * time.Millisecond, Sleep: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	return opts, &waits
}

// commitOf is the commit branch points at on the server.
func commitOf(t *testing.T, url, branch string) *object.Commit {
	t.Helper()
	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: url, CABundle: writer.CABundle,
		Auth: &githttp.BasicAuth{Username: writer.Username, Password: writer.Password}, ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true})
	if err != nil {
		t.Fatalf("cloning %s: %v", branch, err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return commit
}

// filesOf is every file of branch on the server, by path; a symbolic link's
// content is "-> target".
func filesOf(t *testing.T, url, branch string) map[string]string {
	t.Helper()
	files, err := commitOf(t, url, branch).Files()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = files.ForEach(func(f *object.File) error {
		c, err := f.Contents()
		if f.Mode == filemode.Symlink {
			c = "-> " + c
		}
		out[f.Name] = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
