package release_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// A rollback of prod restores prod's folder; a base other overlays read is
// restored only when named (it changed since the target), and a dry run
// pushes nothing.
func TestARollbackRestoresASharedBaseOnlyWhenNamed(t *testing.T) {
	srv, err := gitserver.Start(context.Background(), gitserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddUser("writer", "secret", gitserver.ReadWrite)
	ca, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := srv.CreateRepo("deploy")
	if err != nil {
		t.Fatal(err)
	}
	commit := func(msg string, files map[string][]byte) string {
		h, err := repo.Commit(gitserver.CommitOptions{Message: msg + "\n", Files: files})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	good := commit("good", map[string][]byte{"base/app.yaml": []byte("v: 1\n"), "envs/prod/kustomization.yaml": []byte("tag: 1\n"), "envs/dev/kustomization.yaml": []byte("tag: 1\n")})
	commit("bad", map[string][]byte{"base/app.yaml": []byte("v: 2\n"), "envs/prod/kustomization.yaml": []byte("tag: 2\n")})

	access := release.Access{URL: srv.HTTPSURL("deploy"), Auth: source.Auth{Username: "writer", Password: "secret", CABundle: ca}, Push: v1.GitPushDirect}
	rb := release.Rollback{Application: "shop/web-prod", Branch: "main", To: good, Folders: []string{"envs/prod", "base"}, Own: "envs/prod",
		By: "alice", Reason: "bad release", Now: time.Now()}
	before, _ := repo.Head("main")

	_, err = release.WriteRollback(context.Background(), access, rb, gitwrite.Options{})
	var shared *release.SharedError
	if !errors.As(err, &shared) || len(shared.Folders) != 1 || shared.Folders[0] != "base" || !strings.Contains(err.Error(), "--include base") {
		t.Fatalf("restoring a changed shared base unasked: %v", err)
	}

	rb.Include, rb.DryRun = []string{"base"}, true
	res, err := release.WriteRollback(context.Background(), access, rb, gitwrite.Options{})
	if err != nil || !res.Changed || !res.DryRun || len(res.Reverted) != 1 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if head, _ := repo.Head("main"); head != before {
		t.Fatalf("a dry run pushed %s", head)
	}

	rb.DryRun = false
	res, err = release.WriteRollback(context.Background(), access, rb, gitwrite.Options{})
	if err != nil || !res.Changed || res.Hold.RollbackCommit != res.Commit || res.Hold.Branch != "" {
		t.Fatalf("rollback: %+v, %v", res, err)
	}
	if head, _ := repo.Head("main"); head != res.Commit {
		t.Errorf("main is %s, want the rollback %s", head, res.Commit)
	}

	rb.Reason = "bad\x1b[2J release"
	if _, err := release.WriteRollback(context.Background(), access, rb, gitwrite.Options{}); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("a reason with a terminal escape: %v", err)
	}
}
