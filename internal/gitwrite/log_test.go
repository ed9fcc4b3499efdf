package gitwrite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// Log names the commits after a revision that changed the given folders,
// newest first, so a rollback's message says what it reverts; a revision of
// another branch is an error. Describe writes the message from the tree.
func TestLogAndDescribe(t *testing.T) {
	repo, url, v1 := seeded(t, map[string][]byte{"apps/web/a.yaml": []byte("1\n"), "apps/api/x.yaml": []byte("1\n")})
	commit := func(branch, subject string, files map[string][]byte) string {
		t.Helper()
		h, err := repo.Commit(gitserver.CommitOptions{Branch: branch, Message: subject + "\n\nbody\n", Files: files, Author: gitserver.Person{Name: "Bo", Email: "bo@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	web2 := commit("main", "web 2", map[string][]byte{"apps/web/a.yaml": []byte("2\n")})
	commit("main", "api 2", map[string][]byte{"apps/api/x.yaml": []byte("2\n")})
	web3 := commit("main", "web 3", map[string][]byte{"apps/web/b.yaml": []byte("3\n")})
	other := commit("elsewhere", "not on main", map[string][]byte{"apps/web/z.yaml": []byte("z\n")})

	var got []gitwrite.LogEntry
	req := request(url, func(tr *gitwrite.Tree) error {
		var err error
		if got, _, err = tr.Log(v1[:9], "apps/web"); err != nil {
			return err
		}
		return gitwrite.RestoreFolders(v1, "apps/web")(tr)
	})
	req.Message = ""
	req.Describe = func(tr *gitwrite.Tree) (string, error) {
		full, err := tr.Resolve(v1[:9])
		return "restore " + full + "\n", err
	}
	res, err := gitwrite.Write(context.Background(), req, gitwrite.Options{})
	if err != nil || !res.Changed {
		t.Fatalf("write: %+v, %v", res, err)
	}
	want := []gitwrite.LogEntry{{Hash: web3, Subject: "web 3", Author: "Bo"}, {Hash: web2, Subject: "web 2", Author: "Bo"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if c := commitOf(t, url, "main"); c.Hash.String() != res.Commit || c.Message != "restore "+v1+"\n" {
		t.Errorf("main is %s %q, want %s with the described message", c.Hash, c.Message, res.Commit)
	}

	_, err = gitwrite.Write(context.Background(), request(url, func(tr *gitwrite.Tree) error {
		_, _, err := tr.Log(other, "apps/web")
		return err
	}), gitwrite.Options{})
	if err == nil || !strings.Contains(err.Error(), "no commit "+other) {
		t.Errorf("a revision of another branch: %v", err)
	}
}
