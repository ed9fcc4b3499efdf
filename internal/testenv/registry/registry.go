// Package registry runs a real OCI registry for tests: CNCF Distribution's
// (the registry Harbor and GitLab build on), built once per machine from
// its Go module into the cache, served over TLS with htpasswd logins, as an
// internal registry is.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lockstep-dev/lockstep/internal/testenv/buildcache"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// Version of github.com/distribution/distribution/v3 built.
const Version = "v3.1.2"

// The one account Start creates.
const (
	Username = "pusher"
	Password = "pushes-images"
)

// Registry is a running registry.
type Registry struct {
	// Host is host:port, for image references (Host + "/team/app:1").
	Host string
	// CAFile holds the PEM CA that signed the registry's certificate; CAPEM
	// is its content.
	CAFile string
	CAPEM  []byte
	proc   *proc.Process
}

// Options control Start.
type Options struct {
	// Dir holds the registry's configuration, storage and log.
	Dir string
	// Progress hears about the one-time build; io.Discard when nil.
	Progress io.Writer
}

// Start builds the registry if the cache lacks it, and starts it on a free
// loopback port. Close stops it.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	bin, err := Ensure(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	ca, err := pki.NewCA("test-registry-ca")
	if err != nil {
		return nil, err
	}
	dns, ips := pki.Loopback()
	serving, err := ca.Issue(pki.Request{CommonName: "registry", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	port, err := cluster.FreePort()
	if err != nil {
		return nil, err
	}
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	files := map[string][]byte{
		"tls.crt":  serving.CertPEM,
		"tls.key":  serving.KeyPEM,
		"ca.crt":   ca.CertPEM,
		"htpasswd": []byte(Username + ":" + string(hash) + "\n"),
		"config.yml": []byte(fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %q}
  delete: {enabled: true}
http:
  addr: %q
  tls: {certificate: %q, key: %q}
auth:
  htpasswd: {realm: test-registry, path: %q}
`, filepath.Join(opts.Dir, "data"), host, filepath.Join(opts.Dir, "tls.crt"), filepath.Join(opts.Dir, "tls.key"), filepath.Join(opts.Dir, "htpasswd"))),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(opts.Dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	p, err := proc.Start(proc.Spec{Name: "registry", Path: bin, Args: []string{"serve", filepath.Join(opts.Dir, "config.yml")}, LogPath: filepath.Join(opts.Dir, "registry.log")})
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: host, CAFile: filepath.Join(opts.Dir, "ca.crt"), CAPEM: ca.CertPEM, proc: p}
	if err := r.waitReady(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w\n%s", err, p.LogTail(20))
	}
	return r, nil
}

// waitReady waits until the registry asks for a login at /v2/.
func (r *Registry) waitReady(ctx context.Context) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CAPEM)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.proc.Exited():
			return fmt.Errorf("the registry stopped: %v", r.proc.Err())
		default:
		}
		if resp, err := c.Get("https://" + r.Host + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the registry did not answer within 30s")
}

// Close stops the registry.
func (r *Registry) Close() { r.proc.Stop(5 * time.Second) }

// Ensure returns the registry binary, building it into the cache
// (${XDG_CACHE_HOME:-~/.cache}/lockstep/registry/VERSION) when missing:
// go install of its released module, about a minute once per machine.
func Ensure(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	dir, err := buildcache.Dir("registry", Version)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "registry")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Built into a folder of its own and renamed into place: an interrupted
	// build never leaves a binary that looks whole, and two test binaries
	// building at once both end with the same file.
	stage, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	fmt.Fprintf(progress, "registry: building CNCF Distribution %s into %s (once per machine)\n", Version, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "-ldflags", "-s -w", "github.com/distribution/distribution/v3/cmd/registry@"+Version) // no debugging data: less link time
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOBIN="+stage, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the registry: %w\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(stage, "registry"), bin); err != nil {
		return "", err
	}
	return bin, nil
}
