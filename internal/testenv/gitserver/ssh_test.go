package gitserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

func caTLS(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool}
}

// sshEnv writes key and known_hosts files and returns the GIT_SSH_COMMAND that uses
// them and nothing else from the user's ~/.ssh.
func sshEnv(t *testing.T, s *gitserver.Server, key *gitserver.SSHKey) []string {
	t.Helper()
	dir := t.TempDir()
	keyFile, hostsFile := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, key.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostsFile, []byte(s.KnownHosts()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{fmt.Sprintf("GIT_SSH_COMMAND=ssh -F none -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", keyFile, hostsFile)}
}

func newKey(t *testing.T) *gitserver.SSHKey {
	t.Helper()
	k, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCloneAndPushOverSSH(t *testing.T) {
	f := newFixture(t)
	writerKey, readerKey := newKey(t), newKey(t)
	f.server.AuthorizeKey("writer", writerKey.Signer.PublicKey())
	f.server.AuthorizeKey("reader", readerKey.Signer.PublicKey())

	dir := t.TempDir()
	env := sshEnv(t, f.server, writerKey)
	mustGit(t, dir, env, "clone", f.server.SSHURL("team/app"), "app")
	work := filepath.Join(dir, "app")
	if got, _ := os.ReadFile(filepath.Join(work, "README.md")); string(got) != "hello\n" {
		t.Fatalf("README.md = %q after SSH clone", got)
	}
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, nil, "commit", "-am", "change readme")
	pushed := strings.TrimSpace(mustGit(t, work, nil, "rev-parse", "HEAD"))

	out, err := gitCmd(t, work, sshEnv(t, f.server, readerKey), "push", "origin", "HEAD:main")
	if err == nil || !strings.Contains(out, "may not push") {
		t.Errorf("push with the reader's key: err = %v, output %q; want a refusal", err, out)
	}
	mustGit(t, work, env, "push", "origin", "HEAD:main")
	if head, _ := f.repo.Head("main"); head != pushed {
		t.Errorf("main = %s after SSH push, want %s", head, pushed)
	}
}

func TestSSHRefusesUnknownKeyAndHostileCommands(t *testing.T) {
	f := newFixture(t)
	known, unknown := newKey(t), newKey(t)
	f.server.AuthorizeKey("reader", known.Signer.PublicKey())

	out, err := gitCmd(t, t.TempDir(), sshEnv(t, f.server, unknown), "clone", f.server.SSHURL("team/app"), "app")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("clone with an unknown key: err = %v, output %q; want Permission denied", err, out)
	}

	// Speak SSH directly to send commands git never would.
	addr := strings.TrimSuffix(strings.TrimPrefix(f.server.SSHURL("x"), "ssh://git@"), "/x.git")
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "git",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(known.Signer)},
		HostKeyCallback: ssh.FixedHostKey(f.server.HostKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, command := range []string{
		"sh -c 'cat /etc/passwd'",
		"git-upload-pack '../../etc.git'",
		"git-upload-pack '/team/app.git'; rm -rf /",
		"git-upload-pack '/team/app.git' '--upload-pack=touch /tmp/x'",
		"git-upload-archive '/team/app.git'",
		"git-upload-pack /team/app.git",
		"git-upload-pack '/missing.git'",
		"git-upload-pack '" + strings.Repeat("a/", 5000) + "x.git'",
		"",
	} {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		sess.Stderr = &stderr
		err = sess.Run(command)
		sess.Close()
		if err == nil {
			t.Errorf("command %.60q succeeded, want refusal", command)
		} else if !strings.Contains(stderr.String(), "lockstep-git:") {
			t.Errorf("command %.60q: stderr %q does not say why it was refused", command, stderr.String())
		}
	}
	// The connection still serves a legitimate request afterwards.
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.Stdin = strings.NewReader("0000")
	if out, err := sess.CombinedOutput("git-upload-pack '/team/app.git'"); err != nil || !strings.Contains(string(out), f.head) {
		t.Errorf("git-upload-pack after refusals: err = %v, ref advertisement %q lacks %s", err, out, f.head)
	}
}

// Close returns promptly even with clients that stall: one mid-handshake (TCP only)
// and one logged in with a session that never asks for a command.
func TestCloseEndsStalledConnections(t *testing.T) {
	s, err := gitserver.Start(t.Context(), gitserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	s.AddUser("reader", "pw", gitserver.Read)
	s.AuthorizeKey("reader", key.Signer.PublicKey())
	addr := strings.TrimSuffix(strings.TrimPrefix(s.SSHURL("x"), "ssh://git@"), "/x.git")
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(key.Signer)}, HostKeyCallback: ssh.FixedHostKey(s.HostKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.NewSession(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s with stalled clients")
	}
}
