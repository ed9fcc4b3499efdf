// Package gitserver runs a real Git server on loopback for tests and `lockstep dev`:
// smart HTTP over TLS (git http-backend behind basic auth, with a CA of its own) and
// SSH with public-key authentication (git-upload-pack / git-receive-pack behind
// golang.org/x/crypto/ssh). Repositories are bare repositories in a folder; helpers
// write commits and tags into them directly, signed with PGP or SSH keys when asked.
package gitserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// Access is what a user may do with every repository on the server.
type Access int

const (
	// Read allows clone and fetch.
	Read Access = iota + 1
	// ReadWrite allows push too.
	ReadWrite
)

// Options control Start.
type Options struct {
	// Dir holds the repositories and the CA certificate. A new temporary folder,
	// removed by Close, when empty.
	Dir string
}

// Server is a running Git server.
type Server struct {
	// Dir holds the bare repositories (Dir/repos/NAME.git) and the CA (Dir/ca.crt).
	Dir string
	// CAFile is the PEM file of the CA that signed the HTTPS certificate; clients
	// pass it as http.sslCAInfo.
	CAFile string
	// HostKey is the SSH host key clients must trust.
	HostKey ssh.PublicKey

	// ctx ends when Close is called; it bounds the git processes SSH sessions run.
	ctx    context.Context
	cancel context.CancelFunc

	httpsAddr, sshAddr string
	gitExecPath        string
	ownsDir            bool
	httpServer         *http.Server
	sshListener        net.Listener
	sshConfig          *ssh.ServerConfig
	sshWork            sync.WaitGroup // SSH connections and sessions being served

	mu       sync.Mutex        // guards the fields below
	users    map[string]user   // by user name
	keys     map[string]string // marshalled public key → user name
	sshConns map[net.Conn]bool // accepted SSH connections, closed by Close
	closed   bool              // set by Close; nothing is accepted after
	webhooks []Webhook         // told of every push
}

type user struct {
	password string
	access   Access
}

// Start starts the HTTPS and SSH listeners on free loopback ports.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	s := &Server{Dir: opts.Dir, users: map[string]user{}, keys: map[string]string{}, sshConns: map[net.Conn]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "lockstep-git-"); err != nil {
			return nil, err
		}
		s.ownsDir = true
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(s.reposDir(), 0o755); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("the Git server needs the git binary (apt-get install git): %w", err)
	}
	s.gitExecPath = strings.TrimSpace(string(out))
	if err := s.startHTTPS(); err != nil {
		return nil, err
	}
	if err := s.startSSH(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops both listeners, ends open connections and removes Dir if Start
// created it.
func (s *Server) Close() {
	if s.httpServer != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
		if err := s.httpServer.Shutdown(ctx); err != nil {
			_ = s.httpServer.Close() // requests still running after the grace period
		}
		cancel()
	}
	s.cancel() // ends git processes of open SSH sessions
	s.mu.Lock()
	s.closed = true
	for c := range s.sshConns {
		_ = c.Close() // also ends handshakes in progress
	}
	s.mu.Unlock()
	if s.sshListener != nil {
		_ = s.sshListener.Close()
	}
	s.sshWork.Wait()
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
		s.ownsDir = false
	}
}

// AddUser lets name authenticate over HTTPS with password.
func (s *Server) AddUser(name, password string, access Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = user{password: password, access: access}
}

// AuthorizeKey lets key authenticate over SSH as name, who must have been added
// with AddUser (the password is not used over SSH).
func (s *Server) AuthorizeKey(name string, key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[string(key.Marshal())] = name
}

// HTTPSURL returns the clone URL of a repository over HTTPS, without credentials.
func (s *Server) HTTPSURL(repo string) string {
	return "https://" + s.httpsAddr + "/" + repo + ".git"
}

// SSHURL returns the clone URL of a repository over SSH.
func (s *Server) SSHURL(repo string) string {
	return "ssh://git@" + s.sshAddr + "/" + repo + ".git"
}

// KnownHosts returns a known_hosts line that trusts this server's host key.
func (s *Server) KnownHosts() string {
	host, port, _ := net.SplitHostPort(s.sshAddr)
	return fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
}

func (s *Server) reposDir() string { return filepath.Join(s.Dir, "repos") }

func (s *Server) authorize(name string, want Access) error {
	s.mu.Lock()
	u, ok := s.users[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown user %q", name)
	}
	if u.access < want {
		return fmt.Errorf("user %q may not push", name)
	}
	return nil
}

func (s *Server) startHTTPS() error {
	ca, err := pki.NewCA("lockstep-git-ca")
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.crt")
	if err := os.WriteFile(s.CAFile, ca.CertPEM, 0o644); err != nil {
		return err
	}
	dns, ips := pki.Loopback()
	pair, err := ca.Issue(pki.Request{CommonName: "lockstep-git", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		return err
	}
	cert, err := pair.TLS()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("git server: listening for HTTPS: %w", err)
	}
	s.httpsAddr = l.Addr().String()
	s.httpServer = &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute, // a whole push; a stalled client is cut off
		IdleTimeout:       time.Minute,
		// Refused handshakes are what the tests provoke; they need no log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.httpServer.TLSConfig = tlsConfig(cert)
	go func() { _ = s.httpServer.ServeTLS(l, "", "") }()
	return nil
}

func (s *Server) startSSH() error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hostSigner, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return err
	}
	s.HostKey = hostSigner.PublicKey()
	s.sshConfig = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.sshConfig.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("git server: listening for SSH: %w", err)
	}
	s.sshListener = l
	s.sshAddr = l.Addr().String()
	go s.acceptSSH()
	return nil
}

func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	s.mu.Lock()
	name, ok := s.keys[string(key.Marshal())]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("unknown public key")
	}
	return &ssh.Permissions{Extensions: map[string]string{"user": name}}, nil
}

// repoName matches a repository path as clients send it: one or more segments of
// safe characters ending in .git. Anything else — "..", absolute paths on the
// server, shell metacharacters — is refused before git runs.
var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*\.git$`)

// repoPath resolves a repository named by a client to its folder, refusing names
// that could leave the repository folder or that name no repository.
func (s *Server) repoPath(name string) (string, error) {
	name = strings.TrimPrefix(name, "/")
	if !repoName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("invalid repository name %q", name)
	}
	path := filepath.Join(s.reposDir(), name)
	if fi, err := os.Stat(filepath.Join(path, "HEAD")); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("repository %q not found", name)
	}
	return path, nil
}
