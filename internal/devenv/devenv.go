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
	Vars []Var
	// BinDir holds kubectl (matching the server) and is put first on PATH by EnvFile.
	BinDir string
	// APIURL is the controller's API, over HTTPS with a certificate signed by
	// the CA in APICAFile.
	APIURL, APICAFile string
	// AdminPassword and ViewerPassword are those of the API's accounts
	// AdminAccount and ViewerAccount.
	AdminPassword, ViewerPassword string
	// LedgerToken is the shared bearer token that reads the ledger only.
	LedgerToken string
	// CLIConfig is the CLI's configuration file for this environment (its
	// logins), so they stay out of the user's own.
	CLIConfig string

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
	env = &Env{StateDir: stateDir, EnvFile: filepath.Join(stateDir, "env"), CLIConfig: filepath.Join(stateDir, "config.yaml")}
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
	// the previous cluster's key would stop the controller), and so are the
	// API's serving certificate and the CLI's sessions with the previous API;
	// the API's CA is kept (apiCADir), as a browser may trust it.
	for _, sub := range []string{"cluster", "git", "controller", "api", filepath.Base(env.CLIConfig)} {
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
	fmt.Fprintf(opts.Progress, "dev: the API's accounts are ready\n")

	env.Vars = []Var{
		{Name: "KUBECONFIG", Value: env.ControlPlane.Kubeconfig, Comment: "The cluster, as its admin (kubectl)."},
		{Name: "GIT_URL", Value: env.Git.HTTPSURL(ExampleRepo), Comment: "The example repository, over HTTPS with basic auth."},
		{Name: "GIT_CA", Value: env.Git.CAFile},
		{Name: "GIT_USERNAME", Value: DevUser},
		{Name: "GIT_PASSWORD", Value: password},
		// A global GIT_SSL_CAINFO would break every other HTTPS remote in the shell.
		{Name: "GIT_CONFIG_COUNT", Value: "1", Comment: "Trust GIT_CA for this server only: git reads config from GIT_CONFIG_* too."},
		{Name: "GIT_CONFIG_KEY_0", Value: "http." + strings.TrimSuffix(env.Git.HTTPSURL(ExampleRepo), ExampleRepo+".git") + ".sslCAInfo"},
		{Name: "GIT_CONFIG_VALUE_0", Value: env.Git.CAFile},
		{Name: "GIT_SSH_URL", Value: env.Git.SSHURL(ExampleRepo)},
		{Name: "LOCKSTEP_GIT_SSH_COMMAND", Comment: "Not GIT_SSH_COMMAND, which would apply to every SSH remote; per command:\n" +
			`GIT_SSH_COMMAND="$LOCKSTEP_GIT_SSH_COMMAND" git clone "$GIT_SSH_URL"`,
			Value: fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes", shellQuote(sshKeyFile), shellQuote(knownHostsFile))},
		{Name: "LOCKSTEP_SERVER", Value: env.APIURL, Comment: "The operator API, over HTTPS with a certificate signed by LOCKSTEP_CA. Log in:\n" + LoginCommand(AdminAccount)},
		{Name: "LOCKSTEP_CA", Value: env.APICAFile},
		{Name: "LOCKSTEP_ADMIN_PASSWORD", Value: env.AdminPassword, Comment: "Account " + AdminAccount + " may do anything; " + ViewerAccount + " reads (role:readonly)."},
		{Name: "LOCKSTEP_VIEWER_PASSWORD", Value: env.ViewerPassword},
		{Name: "LOCKSTEP_CONFIG", Value: env.CLIConfig, Comment: "Where lockstep login keeps its contexts for this environment (not in your own configuration)."},
		// Not LOCKSTEP_TOKEN: the CLI prefers that to the session lockstep login saves.
		{Name: "LOCKSTEP_LEDGER_TOKEN", Value: env.LedgerToken, Comment: "The shared ledger token: it reads the ledger only (lockstep audit --token \"$LOCKSTEP_LEDGER_TOKEN\").\n" +
			"Not exported as LOCKSTEP_TOKEN, which would take the place of your login."},
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

// LoginCommand is the shell command that logs user in to the dev API with the
// password from the env file, in a context named after user.
func LoginCommand(user string) string {
	return fmt.Sprintf(`echo "$LOCKSTEP_%s_PASSWORD" | lockstep login --server "$LOCKSTEP_SERVER" --certificate-authority "$LOCKSTEP_CA" --username %s --password-stdin --name %[2]s`,
		strings.ToUpper(user), user)
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

// Var is a variable of the env file.
type Var struct {
	Name, Value string
	// Comment, when set, goes above the variable, one "# " line per line.
	Comment string
}

// writeEnvFile writes `export NAME='value'` lines, quoted for any POSIX shell, and
// puts binDirs first on PATH, in order. Only the owner can read it: it holds
// passwords.
func writeEnvFile(path string, vars []Var, binDirs ...string) error {
	var b strings.Builder
	b.WriteString("# Written by `lockstep dev`. Use: source " + path + "\n")
	for _, v := range vars {
		if v.Comment != "" {
			b.WriteString("\n# " + strings.ReplaceAll(v.Comment, "\n", "\n#   ") + "\n")
		}
		fmt.Fprintf(&b, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	b.WriteString("\n")
	for i := len(binDirs) - 1; i >= 0; i-- {
		if binDirs[i] != "" {
			fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(binDirs[i]))
		}
	}
	// Written to a new file, then renamed: WriteFile's mode applies only to a
	// file it creates, and an older env file may be readable by others.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
