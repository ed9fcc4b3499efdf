package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/lockstep-dev/lockstep/internal/bundle"
	"github.com/lockstep-dev/lockstep/internal/image"
	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// fixture is a bundle's inputs: stand-in binaries made into an image, its
// SBOM, the image's signature and an install.yaml, signed with key.
type fixture struct {
	key    ed25519.PrivateKey
	files  []bundle.File
	digest v1.Hash
	image  v1.Image
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	bin, render, certs := filepath.Join(dir, "lockstep"), filepath.Join(dir, "lockstep-render"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(bin, []byte("\x7fELF a static lockstep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(render, []byte("\x7fELF a static lockstep-render"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := image.Build(image.Options{Binary: bin, RenderBinary: render, CACerts: certs})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{image.RefName: "lockstep:1.0"})); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	key, err := signkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	sbom := []byte(`{"bomFormat":"CycloneDX"}`)
	sbomDigest, _, _ := v1.SHA256(bytes.NewReader(sbom))
	sig, err := image.Sign(key, digest, sbomDigest)
	if err != nil {
		t.Fatal(err)
	}
	files, err := bundle.Dir(filepath.Join(dir, "oci"), bundle.ImageDir)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files,
		bundle.File{Name: bundle.Binary, Path: bin, Mode: 0o755},
		bundle.File{Name: bundle.RenderBinary, Path: render, Mode: 0o755},
		bundle.File{Name: bundle.SBOM, Data: sbom},
		bundle.File{Name: bundle.ImageSignature, Data: sig},
		bundle.File{Name: bundle.Install, Data: []byte("image: lockstep@" + digest.String() + "\n")})
	return fixture{key: key, files: files, digest: digest, image: img}
}

func (f fixture) archive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.Create(&buf, "lockstep-1.0", f.files, f.key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpack extracts an archive and returns the bundle's folder.
func unpack(t *testing.T, archive []byte, pub ed25519.PublicKey) string {
	t.Helper()
	dir := t.TempDir()
	top, err := bundle.Extract(bytes.NewReader(archive), dir, pub, bundle.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if top != "lockstep-1.0" {
		t.Fatalf("top folder %q", top)
	}
	return dir
}

func public(key ed25519.PrivateKey) ed25519.PublicKey { return key.Public().(ed25519.PublicKey) }

// A bundle made from an image build verifies with its key, byte for byte
// the same when made twice, and says what it holds.
func TestABundleVerifiesAndIsReproducible(t *testing.T) {
	f := newFixture(t)
	a, b := f.archive(t), f.archive(t)
	if !bytes.Equal(a, b) {
		t.Error("the same files made two different archives")
	}
	c, err := bundle.Verify(unpack(t, a, public(f.key)), public(f.key))
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != f.digest || c.Name != "lockstep:1.0" || c.Key != signkey.Fingerprint(public(f.key)) || c.Files != len(f.files) {
		t.Errorf("contents %+v, want image %s", c, f.digest)
	}
	// Both binaries unpack executable, beside each other: lockstep finds
	// lockstep-render beside its own executable.
	dir := unpack(t, a, public(f.key))
	for _, name := range []string{bundle.Binary, bundle.RenderBinary} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("%s unpacked as %v, %v", name, info, err)
		}
	}
}

// At the air gap, before any binary from the bundle is trusted, sha256sum
// and openssl check it with the public key alone.
func TestSha256sumAndOpenSSLCheckABundle(t *testing.T) {
	f := newFixture(t)
	dir := unpack(t, f.archive(t), public(f.key))
	_, pem, err := signkey.Marshal(f.key)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "image.pub")
	if err := os.WriteFile(pub, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	openssl := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", bundle.Checksums, "-sigfile", bundle.ChecksumsSig)
	openssl.Dir = dir
	if out, err := openssl.CombinedOutput(); err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl: %v\n%s", err, out)
	}
	sha := exec.Command("sha256sum", "--check", "--strict", "--quiet", bundle.Checksums)
	sha.Dir = dir
	if out, err := sha.CombinedOutput(); err != nil {
		t.Errorf("sha256sum: %v\n%s", err, out)
	}
	// A changed list fails openssl's check.
	sums, _ := os.ReadFile(filepath.Join(dir, bundle.Checksums))
	if err := os.WriteFile(filepath.Join(dir, bundle.Checksums), bytes.Replace(sums, []byte("  "), []byte("  ./"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl = exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", bundle.Checksums, "-sigfile", bundle.ChecksumsSig)
	openssl.Dir = dir
	if out, err := openssl.CombinedOutput(); err == nil {
		t.Errorf("openssl verified a changed SHA256SUMS:\n%s", out)
	}
}
