package image_test

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/lockstep-dev/lockstep/internal/image"
	"github.com/lockstep-dev/lockstep/internal/signkey"
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

// The SBOM names the binary's modules from its build information, the same
// each time: of the lockstep binary, built here (a test binary carries no
// modules in its build information).
func TestTheSBOMComesFromTheBuildInformation(t *testing.T) {
	self := filepath.Join(t.TempDir(), "lockstep")
	if out, err := exec.Command("go", "build", "-o", self, "github.com/lockstep-dev/lockstep/cmd/lockstep").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	a, err := image.SBOM(self)
	if err != nil {
		t.Fatal(err)
	}
	b, err := image.SBOM(self)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two SBOMs of one binary differ")
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Metadata   struct{ Component struct{ Name string } }
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(a, &bom); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range bom.Components {
		if c.Name == "k8s.io/client-go" && strings.HasPrefix(c.Version, "v0.") && c.Purl == "pkg:golang/k8s.io/client-go@"+c.Version {
			found = true
		}
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "lockstep" || !found {
		t.Errorf("the SBOM: %.600s", a)
	}
	// A file that is no Go binary has no SBOM, and says so.
	if _, err := image.SBOM(inputs(t).CACerts); err == nil || !strings.Contains(err.Error(), "no Go build information") {
		t.Errorf("SBOM of a text file: %v", err)
	}
}

// A signature holds for its image and SBOM with its key, and for nothing
// else.
func TestTheSignatureIsCheckedOffline(t *testing.T) {
	key, err := signkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, err := signkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	img, sbom := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	sig, err := image.Sign(key, img, sbom)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := image.Verify(pub, sig, img, sbom); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	tampered := bytes.Replace(sig, []byte(`"signature": "`), []byte(`"signature": "AA`), 1)
	for name, check := range map[string]error{
		"another image":   image.Verify(pub, sig, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("c", 64)}, sbom),
		"another SBOM":    image.Verify(pub, sig, img, img),
		"another key":     image.Verify(other.Public().(ed25519.PublicKey), sig, img, sbom),
		"a changed sig":   image.Verify(pub, tampered, img, sbom),
		"not a signature": image.Verify(pub, []byte("<html>"), img, sbom),
		"an empty file":   image.Verify(pub, nil, img, sbom),
	} {
		if check == nil {
			t.Errorf("%s verified", name)
		}
	}
}

// Written out, the image reads back the same from the OCI layout and from
// the tarball.
func TestTheImageIsWrittenAsALayoutAndATarball(t *testing.T) {
	img, err := image.Build(inputs(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	dir := t.TempDir()
	tag, _ := name.NewTag("registry.internal/lockstep:test")
	if err := image.WriteTo(dir, img, tag); err != nil {
		t.Fatal(err)
	}
	// The tarball (docker save's format) keeps the config and the layers;
	// its manifest is rebuilt when read.
	fromTar, err := tarball.ImageFromPath(filepath.Join(dir, image.Tarball), &tag)
	if err != nil {
		t.Fatal(err)
	}
	wantConfig, _ := img.ConfigName()
	if got, _ := fromTar.ConfigName(); got != wantConfig {
		t.Errorf("the tarball's config is %s, want %s", got, wantConfig)
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, image.LayoutDir))
	if err != nil {
		t.Fatal(err)
	}
	fromLayout, err := idx.Image(want)
	if err != nil {
		t.Fatalf("the layout lacks %s: %v", want, err)
	}
	if got, _ := fromLayout.Digest(); got != want {
		t.Errorf("the layout holds %s", got)
	}
}
