package gitserver_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// clone clones the fixture's repository over HTTPS into a new folder.
func clone(t *testing.T, f fixture) string {
	t.Helper()
	dir := t.TempDir()
	mustGit(t, dir, []string{"GIT_SSL_CAINFO=" + f.server.CAFile}, "clone", "-q",
		withCredentials(f.server.HTTPSURL("team/app"), "reader", readerPassword), "app")
	return filepath.Join(dir, "app")
}

func TestCommitAddsChangesAndDeletesNestedFiles(t *testing.T) {
	f := newFixture(t)
	second, err := f.repo.Commit(gitserver.CommitOptions{
		Files: map[string][]byte{
			"deploy/app.yaml":             []byte("kind: Deployment\n"), // changed
			"deploy/overlays/prod/k.yaml": []byte("kind: Kustomization\n"),
			"README.md":                   nil, // deleted
		},
		Message: "second\n\nApproved-by: Alice <alice@example.com>\n",
		Author:  gitserver.Person{Name: "Bob", Email: "bob@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	work := clone(t, f)
	files := strings.Fields(mustGit(t, work, nil, "ls-tree", "-r", "--name-only", "HEAD"))
	if diff := cmp.Diff([]string{"deploy/app.yaml", "deploy/overlays/prod/k.yaml"}, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if got := mustGit(t, work, nil, "log", "--format=%H %P|%an <%ae>|%(trailers:key=Approved-by,valueonly)", "-1"); !strings.Contains(got, second+" "+f.head+"|Bob <bob@example.com>|Alice <alice@example.com>") {
		t.Errorf("git log says %q", got)
	}
	mustGit(t, work, nil, "fsck", "--strict")
}

func TestCommitRefusesPathsOutsideTheTree(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"../escape.yaml", "/", ".", "..", "a/../../b", ".git/config", "sub/.GIT/hooks/post-update"} {
		if _, err := f.repo.Commit(gitserver.CommitOptions{Files: map[string][]byte{p: []byte("x")}, Message: "bad"}); err == nil {
			t.Errorf("Commit with path %q succeeded, want an error", p)
		}
	}
	if _, err := f.server.CreateRepo("../outside"); err == nil {
		t.Error("CreateRepo(../outside) succeeded")
	}
	if _, err := f.server.CreateRepo("team/app"); err == nil {
		t.Error("CreateRepo of an existing repository succeeded")
	}
}

// The signatures the helpers make are checked by git itself (with ssh-keygen for
// SSH signatures and gpg for PGP), not by our own code: later issues verify them
// with Go libraries, and this proves the fixtures are what a real client produces.
func TestSSHSignedCommitAndTagVerifyWithGit(t *testing.T) {
	f := newFixture(t)
	key, stranger := newKey(t), newKey(t)
	signed, err := f.repo.Commit(gitserver.CommitOptions{Files: map[string][]byte{"a": []byte("1")}, Message: "signed", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Tag("v1.0.0", signed, gitserver.TagOptions{Message: "release", Signer: key}); err != nil {
		t.Fatal(err)
	}
	byStranger, err := f.repo.Commit(gitserver.CommitOptions{Files: map[string][]byte{"b": []byte("2")}, Message: "signed by someone else", Signer: stranger, Branch: "other"})
	if err != nil {
		t.Fatal(err)
	}
	work := clone(t, f)
	mustGit(t, work, []string{"GIT_SSL_CAINFO=" + f.server.CAFile}, "fetch", "-q", "origin", "other")
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(signers, []byte("test@lockstep.invalid "+key.AuthorizedKey()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := []string{"-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile=" + signers}
	if out, err := gitCmd(t, work, nil, append(cfg, "verify-commit", signed)...); err != nil {
		t.Errorf("verify-commit of an SSH-signed commit: %v\n%s", err, out)
	}
	if out, err := gitCmd(t, work, nil, append(cfg, "verify-tag", "v1.0.0")...); err != nil {
		t.Errorf("verify-tag of an SSH-signed tag: %v\n%s", err, out)
	}
	if out, err := gitCmd(t, work, nil, append(cfg, "verify-commit", byStranger)...); err == nil {
		t.Errorf("verify-commit accepted a commit signed by an untrusted key:\n%s", out)
	}
	if out, err := gitCmd(t, work, nil, append(cfg, "verify-commit", f.head)...); err == nil {
		t.Errorf("verify-commit accepted an unsigned commit:\n%s", out)
	}
}

func TestPGPSignedCommitVerifiesWithGPG(t *testing.T) {
	f := newFixture(t)
	key, err := gitserver.NewPGPKey("Release Bot", "release@lockstep.invalid")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := f.repo.Commit(gitserver.CommitOptions{Files: map[string][]byte{"a": []byte("1")}, Message: "signed", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	work := clone(t, f)

	gnupg := t.TempDir()
	armored, err := key.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	imp := exec.CommandContext(t.Context(), "gpg", "--homedir", gnupg, "--batch", "--import")
	imp.Stdin = strings.NewReader(armored)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	env := []string{"GNUPGHOME=" + gnupg}
	out, err := gitCmd(t, work, env, "verify-commit", "--raw", signed)
	if err != nil {
		t.Fatalf("verify-commit of a PGP-signed commit: %v\n%s", err, out)
	}
	if !strings.Contains(out, "GOODSIG") || !strings.Contains(out, key.Fingerprint()) {
		t.Errorf("gpg status %q lacks GOODSIG and fingerprint %s", out, key.Fingerprint())
	}
	if out, err := gitCmd(t, work, env, "verify-commit", f.head); err == nil {
		t.Errorf("verify-commit accepted an unsigned commit:\n%s", out)
	}
}

// A push of many objects arrives as a pack of its own; helper commits after it
// must still see the pushed history.
func TestCommitAfterALargePush(t *testing.T) {
	f := newFixture(t)
	work := t.TempDir()
	env := []string{"GIT_SSL_CAINFO=" + f.server.CAFile}
	mustGit(t, work, env, "clone", "-q", withCredentials(f.server.HTTPSURL("team/app"), "writer", writerPassword), "app")
	dir := filepath.Join(work, "app")
	for i := range 150 { // more than git's receive.unpackLimit of 100 objects
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", i)), []byte(fmt.Sprintf("n: %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustGit(t, dir, nil, "add", ".")
	mustGit(t, dir, nil, "commit", "-qm", "many files")
	mustGit(t, dir, env, "push", "-q", "origin", "HEAD:main")
	pushed := strings.TrimSpace(mustGit(t, dir, nil, "rev-parse", "HEAD"))

	next, err := f.repo.Commit(gitserver.CommitOptions{Files: map[string][]byte{"after.yaml": []byte("x")}, Message: "after the push"})
	if err != nil {
		t.Fatalf("Commit after a large push: %v", err)
	}
	mustGit(t, dir, env, "pull", "-q", "origin", "main")
	if parent := strings.TrimSpace(mustGit(t, dir, nil, "rev-parse", "HEAD^")); parent != pushed || strings.TrimSpace(mustGit(t, dir, nil, "rev-parse", "HEAD")) != next {
		t.Errorf("helper commit %s does not sit on the pushed %s (HEAD^ = %s)", next, pushed, parent)
	}
	if _, err := os.Stat(filepath.Join(dir, "f149.yaml")); err != nil {
		t.Errorf("pushed files lost by the helper commit: %v", err)
	}
}
