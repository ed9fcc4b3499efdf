package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A key, a build that writes the layout, the tarball, the SBOM and the
// signature, the same digest twice, a verification that holds, and one that
// fails once the SBOM is changed. Small Go programs stand in for the static
// lockstep and lockstep-render; the render binary is found beside the
// binary (lockstep-static: lockstep-render-static) or named.
func TestImageBuildSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	self, render := smallGoBinaries(t)
	certs := standInCerts(t, dir)
	keys := filepath.Join(dir, "keys")
	if out, err := run(t, "image", "keygen", "--out", keys); err != nil || !strings.Contains(out, "SHA256:") {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if _, err := run(t, "image", "keygen", "--out", keys); err == nil {
		t.Error("keygen overwrote a key")
	}
	build := func(out string, args ...string) string {
		t.Helper()
		got, err := run(t, append([]string{"image", "build", "--binary", self, "--ca-certs", certs, "--tag", "registry.internal/lockstep:1.0",
			"--key", filepath.Join(keys, "image.key"), "--out", out}, args...)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, got)
		}
		return strings.TrimSpace(got)
	}
	// A binary linked against the C library would not start in the image.
	cgo := cgoBinary(t)
	if out, err := run(t, "image", "build", "--binary", cgo, "--render-binary", render, "--ca-certs", certs, "--out", filepath.Join(dir, "cgo")); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED") {
		t.Errorf("image build of a cgo binary: %v\n%s", err, out)
	}
	if out, err := run(t, "image", "build", "--binary", self, "--render-binary", cgo, "--ca-certs", certs, "--out", filepath.Join(dir, "cgo")); err == nil || !strings.Contains(err.Error(), "the render binary (--render-binary)") || !strings.Contains(err.Error(), "CGO_ENABLED") {
		t.Errorf("image build of a cgo render binary: %v\n%s", err, out)
	}
	// Without a readable render binary there is no image: none beside
	// --binary, or none where --render-binary says.
	alone := filepath.Join(t.TempDir(), "lockstep")
	if data, err := os.ReadFile(self); err != nil || os.WriteFile(alone, data, 0o755) != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--binary", alone}, {"--binary", self, "--render-binary", filepath.Join(dir, "none")}} {
		out, err := run(t, append([]string{"image", "build", "--ca-certs", certs, "--out", filepath.Join(dir, "none")}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "the render binary (--render-binary)") {
			t.Errorf("image build %v: %v\n%s", args, err, out)
		}
	}
	first, second := build(filepath.Join(dir, "a")), build(filepath.Join(dir, "b"), "--render-binary", render)
	if first != second || !strings.HasPrefix(first, "registry.internal/lockstep@sha256:") {
		t.Errorf("two builds printed %q and %q", first, second)
	}
	for _, f := range []string{"oci/index.json", "oci/oci-layout", "lockstep.tar", "sbom.cdx.json", "signature.json"} {
		if _, err := os.Stat(filepath.Join(dir, "a", f)); err != nil {
			t.Errorf("the build wrote no %s: %v", f, err)
		}
	}
	if sbom, err := os.ReadFile(filepath.Join(dir, "a", "sbom.cdx.json")); err != nil || !strings.Contains(string(sbom), `"bom-ref": "lockstep-render"`) {
		t.Errorf("the SBOM does not describe lockstep-render: %v\n%.400s", err, sbom)
	}
	pub := filepath.Join(keys, "image.pub")
	if out, err := run(t, "image", "verify", "--dir", filepath.Join(dir, "a"), "--public-key", pub); err != nil || !strings.HasPrefix(out, "OK: image sha256:") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	sbom := filepath.Join(dir, "a", "sbom.cdx.json")
	data, _ := os.ReadFile(sbom)
	if err := os.WriteFile(sbom, append(data, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "image", "verify", "--dir", filepath.Join(dir, "a"), "--public-key", pub); err == nil {
		t.Errorf("a changed SBOM verified:\n%s", out)
	}
}

// cgoBinary builds a Go program linked against the C library (make builds
// everything else without cgo), and returns its path.
func cgoBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"C\"\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cgo")
	build := exec.Command("go", "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a cgo program (needs gcc, as the race test does): %v\n%s", err, out)
	}
	return bin
}
