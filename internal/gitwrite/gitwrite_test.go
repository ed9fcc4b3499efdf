package gitwrite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

func change(url string, files map[string][]byte) gitwrite.Change {
	return gitwrite.Change{URL: url, Auth: writer, Branch: "main", Dir: "apps/web", Files: files,
		Name: "Ada Admin", Email: "ada@example.com", Message: "web\n"}
}

// An empty repository gets its first commit; a folder is replaced whole and
// the rest of the tree kept; the same files again commit nothing.
func TestCommitReplacesAFolder(t *testing.T) {
	repo, url := newRepo(t)
	res, err := gitwrite.Commit(context.Background(), change(url, map[string][]byte{"a.yaml": []byte("a\n"), "sub/b.yaml": []byte("b\n")}))
	if err != nil || !res.Changed {
		t.Fatalf("first commit into an empty repository: %+v, %v", res, err)
	}
	if head, _ := repo.Head("main"); head != res.Commit {
		t.Errorf("the server's main is %s, the commit %s", head, res.Commit)
	}
	if _, err := repo.Commit(gitserver.CommitOptions{Message: "other", Files: map[string][]byte{"README.md": []byte("hi\n")}}); err != nil {
		t.Fatal(err)
	}
	res, err = gitwrite.Commit(context.Background(), change(url, map[string][]byte{"c.yaml": []byte("c\n")}))
	if err != nil || !res.Changed {
		t.Fatalf("second commit: %+v, %v", res, err)
	}
	if diff := cmp.Diff(map[string]string{"README.md": "hi\n", "apps/web/c.yaml": "c\n"}, filesOf(t, url, "main")); diff != "" {
		t.Errorf("the tree (-want +got):\n%s", diff)
	}
	if author := commitOf(t, url, "main").Author; author.Email != "ada@example.com" {
		t.Errorf("author %v", author)
	}
	again, err := gitwrite.Commit(context.Background(), change(url, map[string][]byte{"c.yaml": []byte("c\n")}))
	if err != nil || again.Changed || again.Commit != res.Commit {
		t.Errorf("the same files again: %+v, %v", again, err)
	}
}

// What cannot be written says why, and writes nothing.
func TestCommitRefuses(t *testing.T) {
	_, url := newRepo(t)
	files := map[string][]byte{"a.yaml": []byte("a\n")}
	cases := map[string]struct {
		edit func(*gitwrite.Change)
		want string
	}{
		"the root":          {func(c *gitwrite.Change) { c.Dir = "/" }, "not its root"},
		"outside":           {func(c *gitwrite.Change) { c.Dir = "../x" }, "not its root"},
		"into .git":         {func(c *gitwrite.Change) { c.Dir = ".git/hooks" }, "not its root"},
		"a file outside":    {func(c *gitwrite.Change) { c.Files = map[string][]byte{"../../x": nil} }, "inside the folder"},
		"a bad branch":      {func(c *gitwrite.Change) { c.Branch = "a..b" }, "not a branch name"},
		"no author":         {func(c *gitwrite.Change) { c.Email = "" }, "author"},
		"no message":        {func(c *gitwrite.Change) { c.Message = " \n" }, "message"},
		"read-only account": {func(c *gitwrite.Change) { c.Auth.Username = "reader" }, "pushing"},
		"a wrong password":  {func(c *gitwrite.Change) { c.Auth.Password = "wrong" }, "cloning"},
		"an untrusted CA":   {func(c *gitwrite.Change) { c.Auth.CABundle = nil }, "cloning"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ch := change(url, files)
			c.edit(&ch)
			if _, err := gitwrite.Commit(context.Background(), ch); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want an error with %q", err, c.want)
			}
		})
	}
	// Only: a folder holding files not named, or a file where the folder
	// should be, is refused and nothing is removed.
	if _, err := gitwrite.Commit(context.Background(), change(url, files)); err != nil {
		t.Fatal(err)
	}
	only := change(url, files)
	only.Only = []string{"b.yaml"}
	if _, err := gitwrite.Commit(context.Background(), only); err == nil || !strings.Contains(err.Error(), "already holds files this did not write (a.yaml)") {
		t.Errorf("a folder of other files: %v", err)
	}
	only.Dir, only.Only = "apps/web/a.yaml", []string{"a.yaml"}
	if _, err := gitwrite.Commit(context.Background(), only); err == nil || !strings.Contains(err.Error(), "is a file, not a folder") {
		t.Errorf("a file as the folder: %v", err)
	}
	// A branch the repository lacks is named.
	ch := change(url, files)
	ch.Branch = "release"
	if _, err := gitwrite.Commit(context.Background(), ch); err == nil || !strings.Contains(err.Error(), "has no branch release") {
		t.Errorf("a missing branch: %v", err)
	}
}
