package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lockstep-dev/lockstep/internal/bundle"
)

// blob is the path of an image blob in an unpacked bundle.
func blob(dir string, h v1.Hash) string {
	return filepath.Join(dir, "image", "blobs", h.Algorithm, h.Hex)
}

// readImage reads the unpacked bundle's index, manifest and config.
func readImage(t *testing.T, dir string) (*v1.IndexManifest, *v1.Manifest, *v1.ConfigFile) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "image", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(blob(dir, idx.Manifests[0].Digest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(blob(dir, m.Config.Digest))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return idx, m, cfg
}

// writeBlob writes data as a blob of the unpacked bundle's image and says
// what names it.
func writeBlob(t *testing.T, dir string, v any) v1.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	h, size, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob(dir, h), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: h, Size: size}
}

// rewriteImage changes the image's manifest and config with change, then
// writes them as new blobs, each named by its digest, and the index naming
// the new manifest: a consistent layout but for what change broke.
func rewriteImage(t *testing.T, dir string, change func(*v1.Manifest, *v1.ConfigFile)) {
	t.Helper()
	idx, m, cfg := readImage(t, dir)
	change(m, cfg)
	c := writeBlob(t, dir, cfg)
	m.Config.Digest, m.Config.Size = c.Digest, c.Size
	d := writeBlob(t, dir, m)
	idx.Manifests[0].Digest, idx.Manifests[0].Size = d.Digest, d.Size
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "image/index.json", data)
}

// gzipTar is a gzip'd tar holding one file.
func gzipTar(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// An image whose blobs are not what names them is refused, signed list or
// not, and the error names the blob: what go-containerregistry's
// validate.Image would catch in a local layout.
func TestAnImageThatIsNotWholeIsRefused(t *testing.T) {
	f := newFixture(t)
	archive := f.archive(t)
	otherDiffID := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("e", 64)}
	cases := []struct {
		name   string
		change func(dir string)
		want   string
	}{
		{"a tampered layer", func(dir string) {
			_, m, _ := readImage(t, dir)
			if err := os.WriteFile(blob(dir, m.Layers[0].Digest), gzipTar(t, "lockstep", "\x7fELF a lockstep of mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "layer 0 blob sha256:"},
		{"a tampered config", func(dir string) {
			_, m, cfg := readImage(t, dir)
			cfg.Config.User = "0:0"
			data, _ := json.Marshal(cfg)
			if err := os.WriteFile(blob(dir, m.Config.Digest), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "the config blob sha256:"},
		{"a tampered manifest", func(dir string) {
			idx, _, _ := readImage(t, dir)
			p := blob(dir, idx.Manifests[0].Digest)
			data, _ := os.ReadFile(p)
			if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "the manifest blob sha256:"},
		{"a wrong diff_id", func(dir string) {
			rewriteImage(t, dir, func(_ *v1.Manifest, cfg *v1.ConfigFile) { cfg.RootFS.DiffIDs[0] = otherDiffID })
		}, "not the config's diff_id " + otherDiffID.String()},
		{"a layer whose diff_id is not the config's", func(dir string) {
			// The manifest names the new layer rightly; the config's diff_id is the old layer's.
			layer := gzipTar(t, "lockstep", "\x7fELF a lockstep of mine")
			h, size, _ := v1.SHA256(bytes.NewReader(layer))
			if err := os.WriteFile(blob(dir, h), layer, 0o644); err != nil {
				t.Fatal(err)
			}
			rewriteImage(t, dir, func(m *v1.Manifest, _ *v1.ConfigFile) { m.Layers[0].Digest, m.Layers[0].Size = h, size })
		}, "uncompresses to sha256:"},
		{"a missing layer blob", func(dir string) {
			_, m, _ := readImage(t, dir)
			if err := os.Remove(blob(dir, m.Layers[0].Digest)); err != nil {
				t.Fatal(err)
			}
		}, ") is missing"},
		{"a layer missing from the manifest", func(dir string) {
			rewriteImage(t, dir, func(m *v1.Manifest, _ *v1.ConfigFile) { m.Layers = nil })
		}, "lists 0 layers but its config sha256:"},
		{"a diff_id too many", func(dir string) {
			rewriteImage(t, dir, func(_ *v1.Manifest, cfg *v1.ConfigFile) { cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, otherDiffID) })
		}, "lists 1 layers but its config sha256:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := unpack(t, archive, public(f.key))
			c.change(dir)
			resign(t, dir, f.key)
			_, err := bundle.Verify(dir, public(f.key))
			if err == nil || !strings.Contains(err.Error(), "the image in image is not whole: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("verify: %v, want an error with %q", err, c.want)
			}
		})
	}
}
