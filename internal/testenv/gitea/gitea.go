// Package gitea runs a real Gitea for tests: built once per machine from its
// Go module into the cache (see Ensure), started on a free loopback port with
// a fresh SQLite database in a folder of the test's, with one administrator
// and an access token. Its API sets and reads commit statuses, takes pushes
// over HTTP (or HTTPS with a CA of its own: Options.HTTPS), and its webhooks
// reach receivers on 127.0.0.1 (push events signed with X-Gitea-Signature),
// so Lockstep's status writer, webhook receiver and Git fetches are tested
// against the server itself rather than a fake of it.
package gitea

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// The administrator Start creates. The password logs in to the API and to
// Git over HTTP (basic auth); Server.Token is the usual credential.
const (
	Username = "lockstep"
	Password = "gitea-for-tests-only"
	Email    = "lockstep@example.test"
)

// Server is a running Gitea.
type Server struct {
	// URL is its root, http://127.0.0.1:PORT (https:// with
	// Options.HTTPS), without a trailing slash; the API is under
	// URL + "/api/v1".
	URL string
	// Token is an access token of the administrator with every scope.
	Token string
	// Dir holds its configuration (app.ini), database, repositories, log
	// (gitea.log) and, over HTTPS, its certificate (https.crt, https.key).
	Dir string
	// CAFile is the PEM file of the CA that signed the server's certificate
	// (Dir/ca.crt) and CAPEM its content, for clients that must trust it
	// (GIT_SSL_CAINFO, a Kubernetes Secret's ca.crt); both empty over plain
	// HTTP.
	CAFile string
	CAPEM  []byte

	build  Build
	config string
	proc   *proc.Process
	client *http.Client
}

// Options control Start.
type Options struct {
	// Dir holds the server's files; it must exist and be empty.
	Dir string
	// Progress hears about a one-time build; io.Discard when nil.
	Progress io.Writer
	// WebhookHosts is Gitea's [webhook] ALLOWED_HOST_LIST: where its
	// webhooks may be delivered. "loopback" (127.0.0.0/8 and ::1) when
	// empty; Gitea's own default refuses them.
	WebhookHosts string
	// HTTPS serves the web UI, the API and Git over TLS, with a certificate
	// for 127.0.0.1, ::1 and localhost signed by a CA made for this server
	// (Server.CAFile): what a client that refuses plain HTTP (Lockstep's
	// Applications, its commit-status writer) needs. Plain HTTP when false.
	HTTPS bool
}

// New starts a Gitea over plain HTTP for t in a temporary folder and stops
// it when t ends. The build (once per machine) happens here when `make test`
// has not done it already.
func New(t testing.TB) *Server {
	t.Helper()
	return NewWith(t, Options{})
}

// NewWith is New with opts: an empty Dir is a temporary folder of t's, a
// nil Progress is standard error. A Gitea that cannot be built or started
// fails t with the reason.
func NewWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting Gitea: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start builds Gitea if the cache lacks it, starts it on a free loopback
// port and creates the administrator and its token. Close stops it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("gitea.Start: Options.Dir is required")
	}
	b, err := Ensure(ctx, BuildOptions{Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	port, err := cluster.FreePort()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if opts.HTTPS {
		scheme = "https"
	}
	s := &Server{
		URL:    scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:    opts.Dir,
		build:  b,
		config: filepath.Join(opts.Dir, "app.ini"),
		client: &http.Client{Timeout: 30 * time.Second},
	}
	var certificate string
	if opts.HTTPS {
		if certificate, err = s.serveTLS(); err != nil {
			return nil, err
		}
	}
	ini, err := appIni(opts, b, port, certificate)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.config, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	p, err := proc.Start(proc.Spec{
		Name:    "gitea",
		Path:    b.Binary(),
		Args:    []string{"--config", s.config, "--work-path", opts.Dir, "web"},
		LogPath: filepath.Join(opts.Dir, "gitea.log"),
	})
	if err != nil {
		return nil, err
	}
	s.proc = p
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w\n%s", err, p.LogTail(4000))
	}
	if err := s.createAdmin(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// serveTLS makes the server's CA and its certificate for loopback, writes
// them into its folder, has s's client trust the CA, and returns app.ini's
// lines naming the certificate. Git hooks reach the server's internal API
// over the same TLS; Gitea's internal client does not verify it, so nothing
// else needs the CA.
func (s *Server) serveTLS() (string, error) {
	ca, err := pki.NewCA("lockstep-gitea-ca")
	if err != nil {
		return "", err
	}
	dns, ips := pki.Loopback()
	pair, err := ca.Issue(pki.Request{CommonName: "lockstep-gitea", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		return "", err
	}
	certFile, keyFile, err := pair.Write(s.Dir, "https")
	if err != nil {
		return "", err
	}
	s.CAFile, s.CAPEM = filepath.Join(s.Dir, "ca.crt"), ca.CertPEM
	if err := os.WriteFile(s.CAFile, ca.CertPEM, 0o644); err != nil {
		return "", err
	}
	s.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}
	return fmt.Sprintf("CERT_FILE = %s\nKEY_FILE = %s\n", certFile, keyFile), nil
}

// appIni is the server's configuration: everything it needs on this
// machine, nothing that reaches out (offline, no mailer, no update check).
// certificate is [server]'s CERT_FILE and KEY_FILE lines over HTTPS.
func appIni(opts Options, b Build, port int, certificate string) (string, error) {
	secret, err := randomHex(32)
	if err != nil {
		return "", err
	}
	internal, err := randomHex(32)
	if err != nil {
		return "", err
	}
	hosts := opts.WebhookHosts
	if hosts == "" {
		hosts = "loopback"
	}
	root := ""
	if os.Getuid() == 0 {
		// Gitea refuses root unless told; tests and CI here run as root.
		root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	dir := opts.Dir
	scheme := "http"
	if opts.HTTPS {
		scheme = "https"
	}
	return fmt.Sprintf(`APP_NAME = Lockstep test Gitea
RUN_MODE = prod
WORK_PATH = %[1]s
%[2]s
[server]
PROTOCOL = %[9]s
%[8]sHTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = %[9]s://127.0.0.1:%[3]d/
DOMAIN = 127.0.0.1
DISABLE_SSH = true
SSH_USER = git
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[4]s

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[5]s
INTERNAL_TOKEN = %[6]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[log]
MODE = console
LEVEL = Warn

[webhook]
ALLOWED_HOST_LIST = %[7]s
DELIVER_TIMEOUT = 5

[queue]
TYPE = channel

[cache]
ADAPTER = memory

[session]
PROVIDER = memory

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false
`, dir, root, port, b.Dir, secret, internal, hosts, certificate, scheme), nil
}

func randomHex(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf), nil
}

// waitReady waits until the API answers /api/v1/version.
func (s *Server) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second, Transport: s.client.Transport}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.proc.Exited():
			return fmt.Errorf("gitea stopped: %v", s.proc.Err())
		default:
		}
		if resp, err := c.Get(s.URL + "/api/v1/version"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("gitea did not answer within 60s")
}

// createAdmin makes the administrator and its token with Gitea's own CLI
// (registration is off, and the first token cannot come from the API
// without a password in every test).
func (s *Server) createAdmin(ctx context.Context) error {
	if _, err := s.cli(ctx, "admin", "user", "create", "--username", Username, "--password", Password,
		"--email", Email, "--admin", "--must-change-password=false"); err != nil {
		return err
	}
	out, err := s.cli(ctx, "admin", "user", "generate-access-token", "--username", Username,
		"--token-name", "lockstep-tests", "--scopes", "all", "--raw")
	if err != nil {
		return err
	}
	// Gitea may log warnings before the token; the token is the last line.
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return errors.New("gitea admin user generate-access-token printed no token")
	}
	s.Token = lines[len(lines)-1]
	return nil
}

// cli runs a gitea subcommand against this server's configuration and
// returns its standard output.
func (s *Server) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.build.Binary(), append([]string{"--config", s.config, "--work-path", s.Dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gitea %s: %w\n%s", strings.Join(args[:min(3, len(args))], " "), err, tail(stderr.Bytes(), 2000))
	}
	return out, nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.proc != nil {
		s.proc.Stop(5 * time.Second)
	}
}

// APIError is an answer of the API that is not a success.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// API calls the API as the administrator: path is below /api/v1
// ("/repos/lockstep/app/commits/main/status"); in, when not nil, is sent as
// JSON and out, when not nil, is decoded from the answer.
func (s *Server) API(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: tail(data, 1000)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("gitea %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}
