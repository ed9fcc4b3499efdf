package image_test

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/lockstep-dev/lockstep/internal/image"
)

// inputs writes a stand-in binary and CA bundle (the image does not run
// them here: KWOK runs no containers).
func inputs(t *testing.T) image.Options {
	t.Helper()
	dir := t.TempDir()
	bin, certs := filepath.Join(dir, "lockstep"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(bin, []byte("\x7fELF a static lockstep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return image.Options{Binary: bin, CACerts: certs}
}

// The same inputs give the same digest, built twice.
func TestTheImageIsReproducible(t *testing.T) {
	o := inputs(t)
	a, err := image.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := image.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds: %s and %s", da, db)
	}
}

// Pushed into a real registry (go-containerregistry's, served over HTTP by
// the test) and pulled back, the image is what was built: its digest, a
// non-root user, the entrypoint, and a root filesystem of the binary, the
// CA certificates and the user's files only.
func TestTheImageRoundTripsThroughARegistry(t *testing.T) {
	img, err := image.Build(inputs(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/lockstep/lockstep:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
	cfg, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != image.User || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != image.Entrypoint || cfg.OS != "linux" || !cfg.Created.IsZero() && cfg.Created.Unix() != 0 {
		t.Errorf("config %+v (created %v)", cfg.Config, cfg.Created)
	}
	layers, err := pulled.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers: %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
		if h.Name == "lockstep" {
			data, _ := io.ReadAll(tr)
			if !bytes.Equal(data, []byte("\x7fELF a static lockstep")) || h.Mode != 0o755 {
				t.Errorf("the binary: mode %o, %q", h.Mode, data)
			}
		}
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s has a time: %v", h.Name, h.ModTime)
		}
	}
	if got := strings.Join(files, " "); got != "etc/ etc/ssl/ etc/ssl/certs/ home/ home/nonroot/ tmp/ etc/passwd etc/group etc/ssl/certs/ca-certificates.crt lockstep" {
		t.Errorf("the root filesystem: %s", got)
	}
}
