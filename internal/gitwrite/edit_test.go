package gitwrite_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// A rollback restores folders as they were several commits back: changed
// files get their old content, added ones go, removed ones come back, a
// folder that did not exist goes, and the rest of the tree is left alone.
func TestRestoreFolders(t *testing.T) {
	repo, url, v1 := seeded(t, map[string][]byte{
		"README.md":              []byte("hi\n"),
		"apps/web/a.yaml":        []byte("a1\n"),
		"apps/web/b.yaml":        []byte("b1\n"),
		"apps/web/sub/c.yaml":    []byte("c1\n"),
		"apps/web/sub/keep.yaml": []byte("k\n"),
		"apps/api/x.yaml":        []byte("x1\n"),
	})
	commit := func(files map[string][]byte, links map[string]string) string {
		t.Helper()
		h, err := repo.Commit(gitserver.CommitOptions{Message: "change\n", Files: files, Symlinks: links})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	commit(map[string][]byte{"apps/web/a.yaml": []byte("a2\n"), "apps/web/b.yaml": nil, "apps/web/d.yaml": []byte("d2\n"),
		"apps/web/sub/c.yaml": []byte("c2\n"), "apps/web/sub/new.yaml": []byte("n2\n"), "apps/api/x.yaml": []byte("x2\n")}, nil)
	commit(map[string][]byte{"apps/web/sub/c.yaml": nil, "apps/web/sub/deeper/e.yaml": []byte("e3\n"), "apps/gone/g.yaml": []byte("g3\n"),
		"README.md": []byte("hello\n")}, map[string]string{"apps/web/link": "a.yaml"})

	// The nested folder alone, by a short hash: its siblings keep v3.
	res, err := gitwrite.Write(context.Background(), request(url, gitwrite.RestoreFolders(v1[:7], "apps/web/sub")), gitwrite.Options{})
	if err != nil || !res.Changed {
		t.Fatalf("restoring apps/web/sub: %+v, %v", res, err)
	}
	want := map[string]string{
		"README.md": "hello\n", "apps/api/x.yaml": "x2\n", "apps/gone/g.yaml": "g3\n",
		"apps/web/a.yaml": "a2\n", "apps/web/d.yaml": "d2\n", "apps/web/link": "-> a.yaml",
		"apps/web/sub/c.yaml": "c1\n", "apps/web/sub/keep.yaml": "k\n",
	}
	if diff := cmp.Diff(want, filesOf(t, url, "main")); diff != "" {
		t.Errorf("after restoring apps/web/sub (-want +got):\n%s", diff)
	}

	// The whole app, and a folder v1 did not have.
	res, err = gitwrite.Write(context.Background(), request(url, gitwrite.RestoreFolders(v1, "apps/web", "apps/gone")), gitwrite.Options{})
	if err != nil || !res.Changed {
		t.Fatalf("restoring apps/web and apps/gone: %+v, %v", res, err)
	}
	want = map[string]string{
		"README.md": "hello\n", "apps/api/x.yaml": "x2\n",
		"apps/web/a.yaml": "a1\n", "apps/web/b.yaml": "b1\n", "apps/web/sub/c.yaml": "c1\n", "apps/web/sub/keep.yaml": "k\n",
	}
	if diff := cmp.Diff(want, filesOf(t, url, "main")); diff != "" {
		t.Errorf("after restoring apps/web (-want +got):\n%s", diff)
	}

	// Restoring what already is changes nothing.
	again, err := gitwrite.Write(context.Background(), request(url, gitwrite.RestoreFolders(v1, "apps/web")), gitwrite.Options{})
	if err != nil || again.Changed || again.Commit != res.Commit {
		t.Errorf("restoring again: %+v, %v", again, err)
	}
}

// A symbolic link comes back as a link, not as a file holding its target.
func TestRestoreFoldersKeepsLinks(t *testing.T) {
	repo, url := newRepo(t)
	v1, err := repo.Commit(gitserver.CommitOptions{Message: "v1\n", Files: map[string][]byte{"apps/web/a.yaml": []byte("a\n")}, Symlinks: map[string]string{"apps/web/current": "a.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(gitserver.CommitOptions{Message: "v2\n", Files: map[string][]byte{"apps/web/current": nil}}); err != nil {
		t.Fatal(err)
	}
	if _, err := gitwrite.Write(context.Background(), request(url, gitwrite.RestoreFolders(v1, "apps/web")), gitwrite.Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"apps/web/a.yaml": "a\n", "apps/web/current": "-> a.yaml"}, filesOf(t, url, "main")); diff != "" {
		t.Errorf("the tree (-want +got):\n%s", diff)
	}
}

// FilesAt reads a folder, or the whole tree, at any commit of the branch.
func TestFilesAt(t *testing.T) {
	repo, url, v1 := seeded(t, map[string][]byte{"README.md": []byte("hi\n"), "apps/web/a.yaml": []byte("a1\n"), "apps/web/sub/b.yaml": []byte("b1\n")})
	if _, err := repo.Commit(gitserver.CommitOptions{Message: "v2\n", Files: map[string][]byte{"apps/web/a.yaml": []byte("a2\n")}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string][]byte{}
	read := func(tr *gitwrite.Tree) error {
		for _, dir := range []string{"apps/web", ".", "apps/none"} {
			files, err := tr.FilesAt(strings.ToUpper(v1[:10]), dir)
			if err != nil {
				return err
			}
			got[dir] = files
		}
		return nil
	}
	if _, err := gitwrite.Write(context.Background(), request(url, read), gitwrite.Options{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string][]byte{
		"apps/web":  {"a.yaml": []byte("a1\n"), "sub/b.yaml": []byte("b1\n")},
		".":         {"README.md": []byte("hi\n"), "apps/web/a.yaml": []byte("a1\n"), "apps/web/sub/b.yaml": []byte("b1\n")},
		"apps/none": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FilesAt (-want +got):\n%s", diff)
	}
}

// A revision the branch's history lacks, or that is no hash, is named in a
// clear error, and nothing is written.
func TestRestoreUnknownRevision(t *testing.T) {
	repo, url, head := seeded(t, map[string][]byte{"apps/web/a.yaml": []byte("a\n")})
	for rev, want := range map[string]string{
		"deadbee":                 "no commit deadbee in the history of main: name a commit of that branch",
		strings.Repeat("0", 40):   "no commit " + strings.Repeat("0", 40) + " in the history of main",
		"abc":                     `revision "abc": want a commit hash, at least its first 7 hex digits`,
		"main":                    `revision "main": want a commit hash`,
		"xyzxyzxyz":               `revision "xyzxyzxyz": want a commit hash`,
		head + "0":                "want a commit hash",
		"apps/web/a.yaml":         "want a commit hash",
		"HEAD~1":                  "want a commit hash",
		strings.ToUpper(head[:8]): "", // a prefix in any case is fine
	} {
		_, err := gitwrite.Write(context.Background(), request(url, gitwrite.RestoreFolders(rev, "apps/web")), gitwrite.Options{})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", rev, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), url+", branch main")):
			t.Errorf("%s: %v, want an error naming the repository and saying %q", rev, err, want)
		}
	}
	if now, _ := repo.Head("main"); now != head {
		t.Errorf("main moved to %s", now)
	}
}

// An edit cannot write outside the repository's tree or into .git, through
// the helpers or through FS.
func TestEditsStayInTheTree(t *testing.T) {
	repo, url, head := seeded(t, map[string][]byte{"apps/web/a.yaml": []byte("a\n")})
	write := func(name string) gitwrite.Edit {
		return func(tr *gitwrite.Tree) error { return tr.WriteFile(name, []byte("x")) }
	}
	for name, tc := range map[string]struct {
		edit gitwrite.Edit
		want string
	}{
		"a path above the root":  {write("../x"), "not a clean path inside the repository"},
		"a path that climbs out": {write("apps/../../x"), "not a clean path"},
		"an absolute path":       {write("/etc/passwd"), "is absolute"},
		"the root":               {write("."), "is the repository's root"},
		"an unclean path":        {write("apps//web/a.yaml"), "not a clean path"},
		"a trailing slash":       {write("apps/web/"), "not a clean path"},
		"a backslash":            {write(`apps\..\..\x`), "not a clean path"},
		".git/config":            {write(".git/config"), `".git/config" is in .git`},
		"a nested .GIT":          {write("apps/.GIT/hooks/pre-commit"), "is in .git"},
		"removing .git":          {func(tr *gitwrite.Tree) error { return tr.Remove(".git") }, "is in .git"},
		"removing the root":      {func(tr *gitwrite.Tree) error { return tr.Remove("") }, "is the repository's root"},
		"reading outside": {func(tr *gitwrite.Tree) error {
			_, err := tr.ReadFile("../../etc/passwd")
			return err
		}, "not a clean path"},
		"into .git through FS": {func(tr *gitwrite.Tree) error {
			f, err := tr.FS().Create(".git/hooks/pre-commit")
			if err != nil {
				return err
			}
			return f.Close()
		}, "the edit wrote .git"},
		"a nested .git through FS": {func(tr *gitwrite.Tree) error {
			return tr.FS().MkdirAll("apps/web/.git", 0o755)
		}, "the edit wrote apps/web/.git"},
		"restoring outside":     {gitwrite.RestoreFolders(head, "../x"), "not a clean path"},
		"restoring the root":    {gitwrite.RestoreFolders(head, "."), "is the repository's root"},
		"restoring nothing":     {gitwrite.RestoreFolders(head), "name the folders to restore"},
		"restoring a file":      {gitwrite.RestoreFolders(head, "apps/web/a.yaml"), "is a file in commit"},
		"replacing into .git":   {gitwrite.ReplaceFolder("apps", map[string][]byte{".git/config": nil}), "is in .git"},
		"replacing outside":     {gitwrite.ReplaceFolder("apps", map[string][]byte{"../x": nil}), "inside the folder"},
		"an edit's own failure": {func(*gitwrite.Tree) error { return errTest }, "the edit failed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gitwrite.Write(context.Background(), request(url, tc.edit), gitwrite.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want an error with %q", err, tc.want)
			}
		})
	}
	if now, _ := repo.Head("main"); now != head {
		t.Errorf("main moved to %s", now)
	}
}

var errTest = errors.New("the edit failed")
