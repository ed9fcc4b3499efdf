package gitwrite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// An edit reads the checkout, changes it, and the change is committed on
// top of the head it saw and pushed; the same edit again changes nothing.
func TestWriteEditsAndPushes(t *testing.T) {
	repo, url, seed := seeded(t, map[string][]byte{"VERSION": []byte("1\n"), "old.yaml": []byte("old\n")})
	var sawHead string
	bump := func(tr *gitwrite.Tree) error {
		sawHead = tr.Head()
		v, err := tr.ReadFile("VERSION")
		if err != nil {
			return err
		}
		if err := tr.WriteFile("apps/web/version.yaml", append([]byte("version: "), v...)); err != nil {
			return err
		}
		return tr.Remove("old.yaml")
	}
	res, err := gitwrite.Write(context.Background(), request(url, bump), gitwrite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := gitwrite.Result{Commit: res.Commit, Changed: true, Branch: "main", Attempts: 1}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if sawHead != seed {
		t.Errorf("Head() = %s, want the seed %s", sawHead, seed)
	}
	if head, _ := repo.Head("main"); head != res.Commit {
		t.Errorf("main is %s, want the commit %s", head, res.Commit)
	}
	if diff := cmp.Diff(map[string]string{"VERSION": "1\n", "apps/web/version.yaml": "version: 1\n"}, filesOf(t, url, "main")); diff != "" {
		t.Errorf("the tree (-want +got):\n%s", diff)
	}
	if c := commitOf(t, url, "main"); len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != seed || c.Author.Email != "ada@example.com" {
		t.Errorf("the commit's parents %v, author %v", c.ParentHashes, c.Author)
	}
	again, err := gitwrite.Write(context.Background(), request(url, bump), gitwrite.Options{})
	if diff := cmp.Diff(gitwrite.Result{Commit: res.Commit, Attempts: 1}, again); err != nil || diff != "" {
		t.Errorf("the same edit again: %v (-want +got):\n%s", err, diff)
	}
}

// A push that loses a race is made again on the new head, the edit
// recomputed there: the other push is kept, never overwritten.
func TestWriteRetriesALostRace(t *testing.T) {
	repo, url, _ := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	var heads []string
	var racer string
	edit := func(tr *gitwrite.Tree) error {
		heads = append(heads, tr.Head())
		if len(heads) == 1 {
			var err error
			if racer, err = repo.Commit(gitserver.CommitOptions{Message: "meanwhile\n", Files: map[string][]byte{"other.yaml": []byte("theirs\n")}}); err != nil {
				return err
			}
		}
		return tr.WriteFile("mine.yaml", []byte("mine\n"))
	}
	opts, waits := sleeps()
	res, err := gitwrite.Write(context.Background(), request(url, edit), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Attempts != 2 {
		t.Errorf("result %+v, want a change on the second attempt", res)
	}
	if len(heads) != 2 || heads[1] != racer {
		t.Errorf("the edit saw heads %v, want the racing commit %s second", heads, racer)
	}
	if diff := cmp.Diff(map[string]string{"README.md": "hi\n", "other.yaml": "theirs\n", "mine.yaml": "mine\n"}, filesOf(t, url, "main")); diff != "" {
		t.Errorf("the tree (-want +got):\n%s", diff)
	}
	if c := commitOf(t, url, "main"); c.Hash.String() != res.Commit || c.ParentHashes[0].String() != racer {
		t.Errorf("main is %s with parents %v, want %s on top of %s", c.Hash, c.ParentHashes, res.Commit, racer)
	}
	if len(*waits) != 1 || (*waits)[0] < opts.Backoff || (*waits)[0] > opts.Backoff*3/2 {
		t.Errorf("waits %v, want one of %v to %v", *waits, opts.Backoff, opts.Backoff*3/2)
	}
}

// When the push that won the race made the same change, there is nothing
// left to commit: success, unchanged.
func TestWriteRaceToTheSameChange(t *testing.T) {
	repo, url, _ := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	var racer string
	runs := 0
	edit := func(tr *gitwrite.Tree) error {
		if runs++; runs == 1 {
			var err error
			if racer, err = repo.Commit(gitserver.CommitOptions{Message: "same\n", Files: map[string][]byte{"v.yaml": []byte("2\n")}}); err != nil {
				return err
			}
		}
		return tr.WriteFile("v.yaml", []byte("2\n"))
	}
	opts, _ := sleeps()
	res, err := gitwrite.Write(context.Background(), request(url, edit), opts)
	if diff := cmp.Diff(gitwrite.Result{Commit: racer, Attempts: 2}, res); err != nil || diff != "" {
		t.Errorf("%v (-want +got):\n%s", err, diff)
	}
}

// Every retry lost: a clear error, ErrBranchMoved, the waits doubling, and
// nothing of this write on the branch.
func TestWriteGivesUpAfterRetries(t *testing.T) {
	repo, url, _ := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	var racer string
	n := 0
	edit := func(tr *gitwrite.Tree) error {
		n++
		var err error
		if racer, err = repo.Commit(gitserver.CommitOptions{Message: "meanwhile\n", Files: map[string][]byte{"n.yaml": {byte('0' + n)}}}); err != nil {
			return err
		}
		return tr.WriteFile("mine.yaml", []byte("mine\n"))
	}
	opts, waits := sleeps()
	opts.Retries = 2
	res, err := gitwrite.Write(context.Background(), request(url, edit), opts)
	if !errors.Is(err, gitwrite.ErrBranchMoved) {
		t.Fatalf("%v, want ErrBranchMoved", err)
	}
	for _, want := range []string{url + ", branch main", "moved 3 times", "run it again later", "nothing is ever force-pushed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if res.Attempts != 3 || res.Changed || n != 3 {
		t.Errorf("result %+v after %d edits, want 3 unchanged attempts", res, n)
	}
	if len(*waits) != 2 || (*waits)[1] < 2*opts.Backoff {
		t.Errorf("waits %v, want two, the second at least %v", *waits, 2*opts.Backoff)
	}
	if head, _ := repo.Head("main"); head != racer {
		t.Errorf("main is %s, want the last racing commit %s", head, racer)
	}
}

// PushBranch: the commit is made on top of Branch and pushed as a new
// branch; Branch does not move. A push branch that exists is refused.
func TestWritePushBranch(t *testing.T) {
	repo, url, seed := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	req := request(url, func(tr *gitwrite.Tree) error { return tr.WriteFile("apps/web/v.yaml", []byte("2\n")) })
	req.PushBranch = "lockstep/promote-web"
	res, err := gitwrite.Write(context.Background(), req, gitwrite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gitwrite.Result{Commit: res.Commit, Changed: true, Branch: "lockstep/promote-web", Attempts: 1}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if head, _ := repo.Head("main"); head != seed {
		t.Errorf("main moved to %s", head)
	}
	if c := commitOf(t, url, "lockstep/promote-web"); c.Hash.String() != res.Commit || c.ParentHashes[0].String() != seed {
		t.Errorf("the push branch is %s on %v, want %s on main's %s", c.Hash, c.ParentHashes, res.Commit, seed)
	}
	ran := false
	req.Edit = func(tr *gitwrite.Tree) error { ran = true; return tr.WriteFile("x", nil) }
	_, err = gitwrite.Write(context.Background(), req, gitwrite.Options{})
	if !errors.Is(err, gitwrite.ErrBranchExists) || !strings.Contains(err.Error(), "push branch lockstep/promote-web") || !strings.Contains(err.Error(), "choose another name") {
		t.Errorf("an existing push branch: %v, want ErrBranchExists naming it", err)
	}
	if ran {
		t.Error("the edit ran although the push branch exists")
	}
}

// A request that cannot be written is refused before anything is cloned.
func TestWriteRefusesARequest(t *testing.T) {
	_, url := newRepo(t)
	noop := func(*gitwrite.Tree) error { return nil }
	for name, tc := range map[string]struct {
		edit func(*gitwrite.Request)
		want string
	}{
		"no URL":                  {func(r *gitwrite.Request) { r.URL = "" }, "needs the repository's URL"},
		"no edit":                 {func(r *gitwrite.Request) { r.Edit = nil }, "needs an edit"},
		"a bad push branch":       {func(r *gitwrite.Request) { r.PushBranch = "a b" }, `push branch "a b" is not a branch name`},
		"push branch is Branch":   {func(r *gitwrite.Request) { r.PushBranch = "main" }, "is the branch written on"},
		"empty repository review": {func(r *gitwrite.Request) { r.PushBranch = "review"; r.Edit = noop }, "the repository is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			req := request(url, noop)
			tc.edit(&req)
			if _, err := gitwrite.Write(context.Background(), req, gitwrite.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Credentials written into the URL never reach an error.
func TestWriteErrorsHideCredentials(t *testing.T) {
	_, url, _ := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	withPassword := strings.Replace(url, "https://", "https://writer:hunter2@", 1)
	req := request(withPassword, func(tr *gitwrite.Tree) error { return nil })
	req.Branch = "release"
	_, err := gitwrite.Write(context.Background(), req, gitwrite.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("%v, want an error naming the URL without its password", err)
	}
}

// A race the server sees after it advertised the branch (the other push
// landed between the advertisement and this update) is told from other
// refusals by asking where the branch is now, and retried the same way.
func TestWriteRetriesARaceTheServerSaw(t *testing.T) {
	repo, url, _ := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	racer, err := repo.Commit(gitserver.CommitOptions{Branch: "racer", Message: "meanwhile\n", Files: map[string][]byte{"README.md": []byte("hi\n"), "other.yaml": []byte("theirs\n")}})
	if err != nil {
		t.Fatal(err)
	}
	// Once, before the update: move main to racer. Outside the quarantine,
	// which forbids ref updates, as racer's objects are already stored.
	marker := filepath.Join(t.TempDir(), "raced")
	hook := "#!/bin/sh\n[ -e " + marker + " ] && exit 0\ntouch " + marker + "\nunset GIT_QUARANTINE_PATH\nexec git update-ref refs/heads/main " + racer + "\n"
	if err := os.MkdirAll(filepath.Join(repo.Path, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo.Path, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	opts, waits := sleeps()
	res, err := gitwrite.Write(context.Background(), request(url, func(tr *gitwrite.Tree) error { return tr.WriteFile("mine.yaml", []byte("mine\n")) }), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || len(*waits) != 1 {
		t.Errorf("result %+v after waits %v, want a second attempt", res, *waits)
	}
	if diff := cmp.Diff(map[string]string{"README.md": "hi\n", "other.yaml": "theirs\n", "mine.yaml": "mine\n"}, filesOf(t, url, "main")); diff != "" {
		t.Errorf("the tree (-want +got):\n%s", diff)
	}
}
