// Package devenv is `lockstep dev`: a real local control plane and Git server, an
// example configuration repository to push to, and a shell-sourceable env file
// that points kubectl, git and the lockstep CLI at them.
package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-dev/lockstep/examples"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

// The example repository's name on the Git server, and the user allowed to push.
const (
	ExampleRepo = "webapp"
	DevUser     = "developer"
)

// Options control Start.
type Options struct {
	// StateDir holds everything: cluster/, git/, the env file. Created when missing.
	StateDir string
	// Progress receives a line per step; io.Discard when nil.
	Progress io.Writer
}

// Env is a running development environment.
type Env struct {
	StateDir     string
	EnvFile      string
	ControlPlane *cluster.ControlPlane
	Git          *gitserver.Server
	// Vars are the variables written to EnvFile, in order.
	Vars [][2]string
	// BinDir holds kubectl (matching the server) and is put first on PATH by EnvFile.
	BinDir string
	// APIURL and APIToken reach the controller's API (the ledger, blame).
	APIURL, APIToken string

	unlock         func()
	stopController func() // nil until the controller runs
}

// Start builds or finds the Kubernetes binaries, starts the control plane and the
// Git server (state under StateDir, replacing the previous run's), seeds the example
// repository and writes StateDir/env. Only one Start may use a StateDir at a time.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	stateDir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	env = &Env{StateDir: stateDir, EnvFile: filepath.Join(stateDir, "env")}
	if env.unlock, err = lockStateDir(stateDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	// A previous run's cluster, repositories and ledger are discarded: a dev
	// environment starts from the example every time (and a ledger signed with
	// the previous cluster's key would stop the controller).
	for _, sub := range []string{"cluster", "git", "controller"} {
		if err := os.RemoveAll(filepath.Join(stateDir, sub)); err != nil {
			return env, err
		}
	}

	bins, err := kubebin.Ensure(ctx, kubebin.Options{Progress: opts.Progress})
	if err != nil {
		return env, err
	}
	fmt.Fprintln(opts.Progress, "dev: starting the control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK)")
	env.ControlPlane, err = cluster.Start(ctx, cluster.Options{
		Binaries: bins, Dir: filepath.Join(stateDir, "cluster"), Progress: opts.Progress,
	})
	if err != nil {
		return env, err
	}
	fmt.Fprintf(opts.Progress, "dev: control plane ready in %s\n", env.ControlPlane.Started.Round(100*time.Millisecond))

	env.Git, err = gitserver.Start(ctx, gitserver.Options{Dir: filepath.Join(stateDir, "git")})
	if err != nil {
		return env, err
	}
	password, err := randomToken()
	if err != nil {
		return env, err
	}
	env.Git.AddUser(DevUser, password, gitserver.ReadWrite)
	sshKeyFile, knownHostsFile, err := writeSSHIdentity(env, DevUser)
	if err != nil {
		return env, err
	}
	if err := seedExample(env.Git); err != nil {
		return env, err
	}
	fmt.Fprintf(opts.Progress, "dev: Git server up, example repository %q seeded\n", ExampleRepo)
	if err := env.startController(ctx, opts.Progress); err != nil {
		return env, err
	}
	fmt.Fprintf(opts.Progress, "dev: example Applications synced\n")

	env.Vars = [][2]string{
		{"KUBECONFIG", env.ControlPlane.Kubeconfig},
		{"GIT_URL", env.Git.HTTPSURL(ExampleRepo)},
		{"GIT_CA", env.Git.CAFile},
		{"GIT_USERNAME", DevUser},
		{"GIT_PASSWORD", password},
		// Trust the CA for this server only (a global GIT_SSL_CAINFO would break every
		// other HTTPS remote in the shell): git reads config from GIT_CONFIG_* too.
		{"GIT_CONFIG_COUNT", "1"},
		{"GIT_CONFIG_KEY_0", "http." + strings.TrimSuffix(env.Git.HTTPSURL(ExampleRepo), ExampleRepo+".git") + ".sslCAInfo"},
		{"GIT_CONFIG_VALUE_0", env.Git.CAFile},
		{"GIT_SSH_URL", env.Git.SSHURL(ExampleRepo)},
		// Not GIT_SSH_COMMAND: that would apply to every SSH remote. Use it per command:
		// GIT_SSH_COMMAND="$LOCKSTEP_GIT_SSH_COMMAND" git clone "$GIT_SSH_URL".
		// The CLI reads the audit ledger through the controller's API.
		{"LOCKSTEP_SERVER", env.APIURL},
		{"LOCKSTEP_TOKEN", env.APIToken},
		{"LOCKSTEP_GIT_SSH_COMMAND", fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes", shellQuote(sshKeyFile), shellQuote(knownHostsFile))},
	}
	env.BinDir = bins.Dir
	// The tour's commands are `kubectl` (matching the server) and `lockstep`
	// itself: both go on PATH, lockstep from wherever this binary runs.
	path := []string{env.BinDir}
	if self, err := os.Executable(); err == nil {
		path = append(path, filepath.Dir(self))
	}
	if err := writeEnvFile(env.EnvFile, env.Vars, path...); err != nil {
		return env, err
	}
	return env, nil
}

// Stop tears everything down; the state dir stays for inspection of logs.
func (e *Env) Stop() {
	if e.stopController != nil {
		e.stopController()
		e.stopController = nil
	}
	if e.Git != nil {
		e.Git.Close()
	}
	if e.ControlPlane != nil {
		e.ControlPlane.Stop()
	}
	if e.unlock != nil {
		e.unlock()
		e.unlock = nil
	}
}

// seedExample creates the example repository with one commit holding the embedded
// example files.
func seedExample(s *gitserver.Server) error {
	repo, err := s.CreateRepo(ExampleRepo)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	err = fs.WalkDir(examples.WebApp, "webapp", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := examples.WebApp.ReadFile(path)
		files[strings.TrimPrefix(path, "webapp/")] = data
		return err
	})
	if err != nil {
		return err
	}
	_, err = repo.Commit(gitserver.CommitOptions{
		Files:   files,
		Message: "Add the webapp example\n\nSeeded by lockstep dev.\n",
		Author:  gitserver.Person{Name: "Lockstep Dev", Email: "dev@lockstep.invalid"},
	})
	return err
}

// writeSSHIdentity creates an SSH key for user, authorizes it on the server and
// writes it and a known_hosts file into the state dir.
func writeSSHIdentity(env *Env, user string) (keyFile, knownHostsFile string, err error) {
	key, err := gitserver.NewSSHKey()
	if err != nil {
		return "", "", err
	}
	env.Git.AuthorizeKey(user, key.Signer.PublicKey())
	keyFile = filepath.Join(env.StateDir, "git", "id_ed25519")
	knownHostsFile = filepath.Join(env.StateDir, "git", "known_hosts")
	if err := os.WriteFile(keyFile, key.PrivateKeyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(knownHostsFile, []byte(env.Git.KnownHosts()+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return keyFile, knownHostsFile, nil
}

// writeEnvFile writes `export NAME='value'` lines, quoted for any POSIX shell, and
// puts binDirs first on PATH, in order. Only the owner can read it: it holds a
// password.
func writeEnvFile(path string, vars [][2]string, binDirs ...string) error {
	var b strings.Builder
	b.WriteString("# Written by `lockstep dev`. Use: source " + path + "\n")
	for _, kv := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	for i := len(binDirs) - 1; i >= 0; i-- {
		if binDirs[i] != "" {
			fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(binDirs[i]))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockStateDir takes an exclusive lock so two `lockstep dev` runs cannot share (and
// wipe) one state dir.
func lockStateDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another `lockstep dev` is running with state dir %s; stop it or pass --state-dir", dir)
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
