package cli_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/lockstep-dev/lockstep/internal/image"
	distribution "github.com/lockstep-dev/lockstep/internal/testenv/registry"
)

// The whole air-gap path: a signed image build, a bundle made from it,
// verified with the public key (and refused with another), unpacked, and
// its image pushed into a real registry (go-containerregistry's, over HTTP)
// and pulled back by the digest push printed. Small Go programs stand in
// for the static lockstep and lockstep-render (the test binary is 240 MB:
// gzip'd four times, too slow).
func TestBundleCreateVerifyPush(t *testing.T) {
	dir := t.TempDir()
	self, render := smallGoBinaries(t)
	certs := standInCerts(t, dir)
	keys, others := filepath.Join(dir, "keys"), filepath.Join(dir, "others")
	for _, k := range []string{keys, others} {
		if out, err := run(t, "image", "keygen", "--out", k); err != nil {
			t.Fatalf("keygen: %v\n%s", err, out)
		}
	}
	key, pub, otherKey := filepath.Join(keys, "image.key"), filepath.Join(keys, "image.pub"), filepath.Join(others, "image.key")
	dist := filepath.Join(dir, "dist")
	built, err := run(t, "image", "build", "--binary", self, "--ca-certs", certs, "--tag", "lockstep:1.0", "--key", key, "--out", dist)
	if err != nil {
		t.Fatalf("image build: %v\n%s", err, built)
	}
	digest := strings.TrimPrefix(strings.TrimSpace(built), "lockstep@")

	archive := filepath.Join(dir, "lockstep-1.0.tar.gz")
	// Another key than the image's is refused, and leaves no archive.
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--key", otherKey, "--out", archive); err == nil || !strings.Contains(err.Error(), "names key") {
		t.Errorf("bundle create with another key: %v\n%s", err, out)
	}
	if _, err := os.Stat(archive); err == nil {
		t.Error("a refused bundle was left behind")
	}
	// Another binary than the image's is refused too: the verification after writing.
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", certs, "--render-binary", render, "--key", key, "--out", archive); err == nil || !strings.Contains(err.Error(), "lockstep is not the image's /lockstep") {
		t.Errorf("bundle create with another binary: %v\n%s", err, out)
	}
	// And another render binary than the image's, or the two swapped.
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--render-binary", certs, "--key", key, "--out", archive); err == nil || !strings.Contains(err.Error(), "lockstep-render is not the image's /lockstep-render") {
		t.Errorf("bundle create with another render binary: %v\n%s", err, out)
	}
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", render, "--render-binary", self, "--key", key, "--out", archive); err == nil || !strings.Contains(err.Error(), "is not the image's /lockstep") {
		t.Errorf("bundle create with the binaries swapped: %v\n%s", err, out)
	}
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--render-binary", filepath.Join(dir, "none"), "--key", key, "--out", archive); err == nil || !strings.Contains(err.Error(), "the render binary (--render-binary)") {
		t.Errorf("bundle create without a render binary: %v\n%s", err, out)
	}
	if _, err := os.Stat(archive); err == nil {
		t.Error("a refused bundle was left behind")
	}
	out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--key", key, "--out", archive)
	if err != nil || !strings.Contains(out, "image "+digest) {
		t.Fatalf("bundle create: %v\n%s", err, out)
	}
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--key", key, "--out", archive); err == nil {
		t.Errorf("bundle create overwrote a bundle:\n%s", out)
	}

	unpacked := filepath.Join(dir, "unpacked")
	out, err = run(t, "bundle", "verify", archive, "--public-key", pub, "--extract", unpacked)
	if err != nil || !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, digest+" (lockstep:1.0)") {
		t.Fatalf("bundle verify: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"lockstep": self, "lockstep-render": render} {
		got, err := os.ReadFile(filepath.Join(unpacked, file))
		built, _ := os.ReadFile(want)
		if err != nil || !bytes.Equal(got, built) {
			t.Errorf("the bundle's %s is not %s: %v", file, want, err)
		}
	}
	install, err := os.ReadFile(filepath.Join(unpacked, "install.yaml"))
	if err != nil || !strings.Contains(string(install), "image: index.docker.io/library/lockstep@"+digest) && !strings.Contains(string(install), "lockstep@"+digest) {
		t.Errorf("install.yaml does not name the image %s: %v", digest, err)
	}
	refused := filepath.Join(dir, "refused")
	if out, err := run(t, "bundle", "verify", archive, "--public-key", filepath.Join(others, "image.pub"), "--extract", refused); err == nil || !strings.Contains(err.Error(), "not signed by the trusted key") {
		t.Errorf("bundle verify with another key: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(refused); len(entries) != 0 {
		t.Errorf("a refused bundle left %v in --extract's folder", entries)
	}
	// A folder that holds something is refused, and keeps what it holds.
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "mine"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "bundle", "verify", archive, "--public-key", pub, "--extract", full); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("bundle verify --extract into a full folder: %v\n%s", err, out)
	}
	if data, err := os.ReadFile(filepath.Join(full, "mine")); err != nil || string(data) != "keep me" {
		t.Errorf("the folder's own file after a refused --extract: %q, %v", data, err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	if out, err := run(t, "bundle", "push", archive, "--public-key", filepath.Join(others, "image.pub"), "--to", host+"/platform/lockstep", "--plain-http"); err == nil {
		t.Errorf("bundle push with another key:\n%s", out)
	}
	out, err = run(t, "bundle", "push", archive, "--public-key", pub, "--to", host+"/platform/lockstep", "--plain-http")
	want := host + "/platform/lockstep@" + digest
	if err != nil || !strings.Contains(out, "pushed "+want+"\n") || !strings.Contains(out, "lockstep install --image "+want) {
		t.Fatalf("bundle push: %v\n%s", err, out)
	}
	// Its SBOM and signature went along (this registry has no referrers
	// API: they are found through the referrers tag).
	if out, err := run(t, "image", "verify", "--ref", want, "--public-key", pub, "--plain-http"); err != nil || !strings.HasPrefix(out, "OK: ") {
		t.Errorf("image verify --ref: %v\n%s", err, out)
	}
	// The bundle's tag, since --to named none; and the same image by digest.
	for _, ref := range []string{host + "/platform/lockstep:1.0", want} {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		if got, _ := img.Digest(); got.String() != digest {
			t.Errorf("pulled %s as %s, pushed %s", ref, got, digest)
		}
	}
}

// smallGoBinaries builds two Go programs with build information, as the
// SBOM needs, but 2 MB each: stand-ins for bin/lockstep-static and, beside
// it as make static puts it, bin/lockstep-render-static.
func smallGoBinaries(t *testing.T) (binary, render string) {
	t.Helper()
	bin := t.TempDir()
	binary, render = filepath.Join(bin, "lockstep-static"), filepath.Join(bin, "lockstep-render-static")
	for out, body := range map[string]string{binary: "func main() {}", render: "func main() { println(\"render\") }"} {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/standin\n\ngo 1.22\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\n"+body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		build := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		build.Dir = src
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	return binary, render
}

// Pushed into a real internal registry (CNCF Distribution over TLS, with a
// login), as docs/airgap.md says: the credentials from the Docker config
// file, the registry's CA with --ca-file; refused without either.
func TestBundlePushToARealRegistry(t *testing.T) {
	ctx := t.Context()
	reg, err := distribution.Start(ctx, distribution.Options{Dir: t.TempDir(), Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	archive, pub, digest := signedBundle(t)
	to := reg.Host + "/platform/lockstep"

	docker := t.TempDir()
	t.Setenv("DOCKER_CONFIG", docker)
	if out, err := run(t, "bundle", "push", archive, "--public-key", pub, "--to", to, "--ca-file", reg.CAFile); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") && !strings.Contains(err.Error(), "401") {
		t.Errorf("bundle push without credentials: %v\n%s", err, out)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(distribution.Username + ":" + distribution.Password))
	if err := os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths": {"`+reg.Host+`": {"auth": "`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "bundle", "push", archive, "--public-key", pub, "--to", to); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("bundle push without the registry's CA: %v\n%s", err, out)
	}
	out, err := run(t, "bundle", "push", archive, "--public-key", pub, "--to", to, "--ca-file", reg.CAFile)
	if err != nil || !strings.Contains(out, "pushed "+to+"@"+digest) {
		t.Fatalf("bundle push: %v\n%s", err, out)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(reg.CAPEM)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	ref, err := name.ParseReference(to + ":1.0")
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: distribution.Username, Password: distribution.Password}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got.String() != digest {
		t.Errorf("pulled %s, pushed %s", got, digest)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Config.User != image.User || strings.Join(cfg.Config.Entrypoint, " ") != image.Entrypoint {
		t.Errorf("the pulled image's config: %s %+v", cfg.OS, cfg.Config)
	}
	// The SBOM and the signature came along, attached to the image, and
	// check out against the key; another key is refused.
	byDigest := to + "@" + digest
	out, err = run(t, "image", "verify", "--ref", byDigest, "--public-key", pub, "--ca-file", reg.CAFile)
	if err != nil || !strings.HasPrefix(out, "OK: "+byDigest+" and its SBOM") {
		t.Errorf("image verify --ref: %v\n%s", err, out)
	}
	otherKeys := filepath.Join(t.TempDir(), "other")
	if out, err := run(t, "image", "keygen", "--out", otherKeys); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if out, err := run(t, "image", "verify", "--ref", byDigest, "--public-key", filepath.Join(otherKeys, "image.pub"), "--ca-file", reg.CAFile); err == nil || !strings.Contains(err.Error(), "not the trusted key") {
		t.Errorf("image verify --ref with another key: %v\n%s", err, out)
	}
}

// signedBundle makes a key and a bundle of a small stand-in image signed
// with it, and returns the bundle, the public key file and the image's digest.
func signedBundle(t *testing.T) (archive, pub, digest string) {
	t.Helper()
	dir := t.TempDir()
	self, _ := smallGoBinaries(t)
	certs := standInCerts(t, dir)
	keys := filepath.Join(dir, "keys")
	if out, err := run(t, "image", "keygen", "--out", keys); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	dist := filepath.Join(dir, "dist")
	built, err := run(t, "image", "build", "--binary", self, "--ca-certs", certs, "--tag", "lockstep:1.0", "--key", filepath.Join(keys, "image.key"), "--out", dist)
	if err != nil {
		t.Fatalf("image build: %v\n%s", err, built)
	}
	archive = filepath.Join(dir, "lockstep-1.0.tar.gz")
	if out, err := run(t, "bundle", "create", "--build", dist, "--binary", self, "--key", filepath.Join(keys, "image.key"), "--out", archive); err != nil {
		t.Fatalf("bundle create: %v\n%s", err, out)
	}
	return archive, filepath.Join(keys, "image.pub"), strings.TrimPrefix(strings.TrimSpace(built), "lockstep@")
}

// standInCerts writes a CA bundle for an image that is built, not run.
func standInCerts(t *testing.T, dir string) string {
	t.Helper()
	certs := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return certs
}

// testWriter logs what it is written (the registry's one-time build).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
