// Package postgres runs a real PostgreSQL server, Debian's, for tests: in a
// temporary folder, on a free loopback port, its socket in that folder, as
// the unprivileged user postgres when the tests run as root (PostgreSQL
// refuses to run as root). Main starts one per test binary and stops it after
// the tests; Database gives each test an empty database of its own.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// Options control Start.
type Options struct {
	// Dir receives the data folder, the socket and the server's log. A new
	// temporary folder, removed by Stop, when empty.
	Dir string
	// Timeout bounds the start; 1 minute when zero.
	Timeout time.Duration
}

// Server is a running PostgreSQL server.
type Server struct {
	// Dir holds the data folder (data), the socket folder (socket) and the
	// server's log (postgres.log).
	Dir string
	// Port is the loopback TCP port it listens on.
	Port int
	// Password is the password of the superuser, postgres, over TCP (the
	// socket trusts local connections).
	Password string
	// Version is the server's major version, from the binaries' folder.
	Version int
	// Started is how long Start took.
	Started time.Duration

	proc    *proc.Process
	ownsDir bool

	mu    sync.Mutex // guards admin and the database counter
	admin *pgx.Conn
	next  int
}

// superuser is the role initdb makes, named as Debian names it.
const superuser = "postgres"

// startAttempts bounds the retries when another process takes the chosen port
// before the server binds it.
const startAttempts = 3

// Start initialises a database cluster and starts the server on it, returning
// once it accepts connections. On error, whatever was started is stopped.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	started := time.Now()
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	runAs, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: opts.Dir, Version: bins.version}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "lockstep-postgres-"); err != nil {
			return nil, err
		}
		s.ownsDir = true
	}
	if err := s.initdb(ctx, bins, runAs); err != nil {
		s.Stop()
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = s.start(ctx, bins, runAs)
		if err == nil {
			break
		}
		if s.proc != nil {
			s.proc.Stop(10 * time.Second)
			s.proc = nil
		}
		if !strings.Contains(err.Error(), "Address already in use") || attempt == startAttempts || ctx.Err() != nil {
			s.Stop()
			return nil, err
		}
	}
	s.Started = time.Since(started)
	return s, nil
}

// initdb makes the database cluster: the superuser with a random password
// for TCP, trust on the socket (which only this folder's owner can reach).
func (s *Server) initdb(ctx context.Context, bins binaries, runAs *syscall.Credential) error {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	s.Password = hex.EncodeToString(secret)
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := os.MkdirAll(filepath.Join(s.Dir, "socket"), 0o700); err != nil {
		return err
	}
	if runAs != nil {
		if err := chownAll(s.Dir, runAs); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, bins.path("initdb"), "-D", filepath.Join(s.Dir, "data"), "-U", superuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: runAs}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postgres: initdb: %w\n%s", err, out)
	}
	return nil
}

// start starts the server on a free port and waits until it answers.
func (s *Server) start(ctx context.Context, bins binaries, runAs *syscall.Credential) error {
	port, err := cluster.FreePort()
	if err != nil {
		return err
	}
	s.Port = port
	spec := proc.Spec{
		Name: "postgres", Path: bins.path("postgres"), LogPath: filepath.Join(s.Dir, "postgres.log"),
		Args: []string{"-D", filepath.Join(s.Dir, "data"), "-p", strconv.Itoa(port), "-k", filepath.Join(s.Dir, "socket"),
			"-c", "listen_addresses=127.0.0.1", "-c", "logging_collector=off"},
	}
	if runAs != nil {
		// proc starts every child with a parent-death signal so that none
		// outlives the tests; the kernel clears it when a process changes
		// its user, and setpriv (util-linux, always there on Debian) sets it
		// again after the change (--pdeathsig keep) before it runs postgres.
		spec.Args = append([]string{fmt.Sprintf("--reuid=%d", runAs.Uid), fmt.Sprintf("--regid=%d", runAs.Gid), "--clear-groups",
			"--pdeathsig=keep", "--", spec.Path}, spec.Args...)
		spec.Path = "setpriv"
	}
	if s.proc, err = proc.Start(spec); err != nil {
		return err
	}
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			s.admin = conn
			return nil
		}
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("postgres exited while starting: %w\n%s", s.proc.Err(), s.proc.LogTail(2000))
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections on 127.0.0.1:%d: %w (last: %v)\n%s", port, ctx.Err(), err, s.proc.LogTail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN is the superuser's connection string for database over TCP.
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(superuser, s.Password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates an empty database with a name of its own, and
// returns the name.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	name := fmt.Sprintf("test_%d", s.next)
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("postgres: creating database %s: %w", name, err)
	}
	return name, nil
}

// DropDatabase drops a database, closing the connections still open to it.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("postgres: dropping database %s: %w", name, err)
	}
	return nil
}

// PID is the server's (the postmaster's) process id.
func (s *Server) PID() int { return s.proc.PID() }

// LogTail returns the end of the server's log.
func (s *Server) LogTail(n int) string {
	if s.proc == nil {
		return ""
	}
	return s.proc.LogTail(n)
}

// KeepDir leaves the folder in place when the server stops (to read its log).
func (s *Server) KeepDir() { s.ownsDir = false }

// Stop stops the server and removes its folder if Start made it.
func (s *Server) Stop() {
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.admin.Close(ctx)
		cancel()
	}
	if s.proc != nil {
		// SIGTERM to the process group: the sessions end at once and the
		// postmaster shuts down cleanly.
		s.proc.Stop(30 * time.Second)
	}
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
}
