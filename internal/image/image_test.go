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
	"slices"
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

// inputs writes stand-in binaries and a CA bundle (the image does not run
// them here: KWOK runs no containers).
func inputs(t *testing.T) image.Options {
	t.Helper()
	dir := t.TempDir()
	o := image.Options{Binary: filepath.Join(dir, "lockstep"), RenderBinary: filepath.Join(dir, "lockstep-render"), CACerts: filepath.Join(dir, "ca.crt")}
	for file, data := range map[string]string{
		o.Binary:       "\x7fELF a static lockstep",
		o.RenderBinary: "\x7fELF a static lockstep-render",
		o.CACerts:      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	} {
		if err := os.WriteFile(file, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return o
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
	// Another render binary, another image.
	if err := os.WriteFile(o.RenderBinary, []byte("\x7fELF another lockstep-render"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := image.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Errorf("another render binary made the same image %s", dc)
	}
}

// Without the render binary there is no image, and the error says which
// input is missing.
func TestTheImageNeedsTheRenderBinary(t *testing.T) {
	for name, change := range map[string]func(*image.Options){
		"none given": func(o *image.Options) { o.RenderBinary = "" },
		"absent":     func(o *image.Options) { o.RenderBinary = filepath.Join(t.TempDir(), "lockstep-render") },
		"a folder":   func(o *image.Options) { o.RenderBinary = t.TempDir() },
	} {
		t.Run(name, func(t *testing.T) {
			o := inputs(t)
			change(&o)
			if _, err := image.Build(o); err == nil || !strings.HasPrefix(err.Error(), "the render binary: ") {
				t.Errorf("build: %v, want an error about the render binary", err)
			}
			if _, err := image.SBOM(o); err == nil {
				t.Error("an SBOM without the render binary")
			}
		})
	}
}

// Pushed into a real registry (go-containerregistry's, served over HTTP by
// the test) and pulled back, the image is what was built: its digest, a
// non-root user, the entrypoint, and a root filesystem of the two binaries,
// the CA certificates and the user's files only.
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
		if want, ok := map[string]string{"lockstep": "\x7fELF a static lockstep", "lockstep-render": "\x7fELF a static lockstep-render"}[h.Name]; ok {
			data, _ := io.ReadAll(tr)
			if string(data) != want || h.Mode != 0o755 || h.Uid != 0 {
				t.Errorf("%s: mode %o, owner %d, %q", h.Name, h.Mode, h.Uid, data)
			}
		}
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s has a time: %v", h.Name, h.ModTime)
		}
	}
	if got := strings.Join(files, " "); got != "etc/ etc/ssl/ etc/ssl/certs/ home/ home/nonroot/ tmp/ etc/passwd etc/group etc/ssl/certs/ca-certificates.crt lockstep lockstep-render" {
		t.Errorf("the root filesystem: %s", got)
	}
}

// The SBOM names both binaries' modules from their build information, the
// same each time: of the lockstep and lockstep-render binaries, built here
// (a test binary carries no modules in its build information).
func TestTheSBOMComesFromTheBuildInformation(t *testing.T) {
	dir := t.TempDir()
	o := image.Options{Binary: filepath.Join(dir, "lockstep"), RenderBinary: filepath.Join(dir, "lockstep-render")}
	for bin, pkg := range map[string]string{o.Binary: "cmd/lockstep", o.RenderBinary: "cmd/lockstep-render"} {
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/lockstep-dev/lockstep/"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	a, err := image.SBOM(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := image.SBOM(o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two SBOMs of the same binaries differ")
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Metadata   struct{ Component struct{ Name string } }
		Components []struct {
			Type, Name, Version, Purl string
			BOMRef                    string `json:"bom-ref"`
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(a, &bom); err != nil {
		t.Fatal(err)
	}
	refs := map[string]int{}
	var render, clientGo string
	for _, c := range bom.Components {
		refs[c.BOMRef]++
		switch {
		case c.Name == "lockstep-render" && c.Type == "application":
			render = c.BOMRef
		case c.Name == "k8s.io/client-go" && strings.HasPrefix(c.Version, "v0.") && c.Purl == "pkg:golang/k8s.io/client-go@"+c.Version:
			clientGo = c.BOMRef
		}
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "lockstep" || render == "" || clientGo == "" {
		t.Errorf("the SBOM: %.600s", a)
	}
	for ref, n := range refs {
		if n > 1 {
			t.Errorf("%s is listed %d times", ref, n)
		}
	}
	// Each binary lists its own modules; the render binary links Helm.
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		deps[d.Ref] = d.DependsOn
	}
	if !slices.Contains(deps["lockstep"], clientGo) || !slices.Contains(deps["lockstep"], "lockstep-render") {
		t.Errorf("lockstep depends on %v", deps["lockstep"])
	}
	if !slices.ContainsFunc(deps["lockstep-render"], func(ref string) bool { return strings.HasPrefix(ref, "pkg:golang/helm.sh/helm/") }) {
		t.Errorf("lockstep-render depends on %v", deps["lockstep-render"])
	}
	// A file that is no Go binary has no SBOM, and says so.
	o.RenderBinary = inputs(t).CACerts
	if _, err := image.SBOM(o); err == nil || !strings.Contains(err.Error(), "no Go build information") {
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
