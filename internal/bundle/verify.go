package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/lockstep-dev/lockstep/internal/image"
	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// Contents is what a verified bundle holds.
type Contents struct {
	// Image is the image's manifest digest.
	Image v1.Hash
	// Name is the name the image was built with (lockstep:1.0).
	Name string
	// Key is the fingerprint of the key that signed the bundle.
	Key string
	// Files is how many files SHA256SUMS lists.
	Files int
}

// Verify checks an unpacked bundle against the signer's public key:
// SHA256SUMS is signed by pub, lists every file and each file matches it;
// the image's blobs match their digests; the image and the SBOM are signed
// by the same key; both binaries are the image's; and install.yaml installs
// that image. It reads every byte once or twice, and trusts none before.
func Verify(dir string, pub ed25519.PublicKey) (Contents, error) {
	sums, err := readSmall(filepath.Join(dir, Checksums), 1<<20)
	if err != nil {
		return Contents{}, err
	}
	sig, err := readSmall(filepath.Join(dir, ChecksumsSig), 1<<10)
	if err != nil {
		return Contents{}, err
	}
	key := signkey.Fingerprint(pub)
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, sums, sig) {
		return Contents{}, fmt.Errorf("%s is not signed by the trusted key %s: the bundle was changed or signed by another key", Checksums, key)
	}
	listed, err := parseChecksums(sums)
	if err != nil {
		return Contents{}, err
	}
	if err := checkFiles(dir, listed); err != nil {
		return Contents{}, err
	}
	for _, name := range []string{Binary, RenderBinary, SBOM, ImageSignature, Install, ImageDir + "/index.json"} {
		if _, ok := listed[name]; !ok {
			return Contents{}, fmt.Errorf("the bundle has no %s", name)
		}
	}
	img, desc, err := layoutImage(filepath.Join(dir, ImageDir))
	if err != nil {
		return Contents{}, err
	}
	if err := checkImage(img, desc); err != nil {
		return Contents{}, fmt.Errorf("the image in %s is not whole: %w", ImageDir, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Contents{}, err
	}
	imageSig, err := readSmall(filepath.Join(dir, ImageSignature), 1<<16)
	if err != nil {
		return Contents{}, err
	}
	if err := image.Verify(pub, imageSig, digest, mustHash(listed[SBOM])); err != nil {
		return Contents{}, fmt.Errorf("%s: %w", ImageSignature, err)
	}
	if err := sameBinaries(img, map[string]string{Binary: listed[Binary], RenderBinary: listed[RenderBinary]}); err != nil {
		return Contents{}, err
	}
	install, err := readSmall(filepath.Join(dir, Install), 16<<20)
	if err != nil {
		return Contents{}, err
	}
	if !bytes.Contains(install, []byte("@"+digest.String())) {
		return Contents{}, fmt.Errorf("%s does not install the bundle's image %s", Install, digest)
	}
	return Contents{Image: digest, Name: desc.Annotations[image.RefName], Key: key, Files: len(listed)}, nil
}

// parseChecksums reads sha256sum's format: a hex digest, two spaces, a name.
func parseChecksums(data []byte) (map[string]string, error) {
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || !validName(name) || name == Checksums || name == ChecksumsSig {
			return nil, fmt.Errorf("%s line %d is not \"<sha256>  <file>\"", Checksums, line)
		}
		if _, dup := listed[name]; dup {
			return nil, fmt.Errorf("%s lists %s twice", Checksums, name)
		}
		listed[name] = sum
	}
	return listed, sc.Err()
}

// checkFiles checks that dir holds exactly the listed files, each with its
// checksum.
func checkFiles(dir string, listed map[string]string) error {
	var extra []string
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if name == Checksums || name == ChecksumsSig {
			return nil
		}
		want, ok := listed[name]
		if !ok {
			extra = append(extra, name)
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", name)
		}
		got, err := fileSum(p)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s does not match its checksum: it was changed", name)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("the bundle holds files %s does not list: %s", Checksums, strings.Join(extra, ", "))
	}
	if seen != len(listed) {
		var missing []string
		for name := range listed {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		return fmt.Errorf("the bundle lacks files %s lists: %s", Checksums, strings.Join(missing, ", "))
	}
	return nil
}

// layoutImage is the one image of an OCI layout and the index's descriptor
// of it, which holds the name it was written with.
func layoutImage(dir string) (v1.Image, v1.Descriptor, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("the bundle's image: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("the bundle's image: %w", err)
	}
	if len(m.Manifests) != 1 {
		return nil, v1.Descriptor{}, fmt.Errorf("the bundle's image layout holds %d images, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("the bundle's image: %w", err)
	}
	return img, m.Manifests[0], nil
}

// imagePaths are where the image holds the bundle's binaries.
var imagePaths = map[string]string{Binary: image.Entrypoint, RenderBinary: image.RenderBinary}

// sameBinaries checks that each of the bundle's binaries (named as in the
// bundle, with their checksums) is the image's file of the same name: the
// binary that verifies and installs is the one the cluster will run, and
// the render binary beside it the one the cluster will render with.
func sameBinaries(img v1.Image, sums map[string]string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for name := range sums {
		wanted[strings.TrimPrefix(imagePaths[name], "/")] = true
	}
	// Later layers hide earlier ones' files of the same name.
	found := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		err = tarFileSums(rc, wanted, found)
		rc.Close()
		if err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sums)) {
		inImage := imagePaths[name]
		got, ok := found[strings.TrimPrefix(inImage, "/")]
		switch {
		case !ok:
			return fmt.Errorf("the bundle's image has no %s", inImage)
		case got != sums[name]:
			return fmt.Errorf("the bundle's %s is not the image's %s", name, inImage)
		}
	}
	return nil
}

// tarFileSums records in found the sha256 of each file of the tar r whose
// name is wanted.
func tarFileSums(r io.Reader, wanted map[string]bool, found map[string]string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if !wanted[name] {
			continue
		}
		h := sha256.New()
		if _, err := io.Copy(h, tr); err != nil {
			return err
		}
		found[name] = hex.EncodeToString(h.Sum(nil))
	}
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readSmall reads a file that a real bundle keeps small.
func readSmall(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("the bundle's %s: %w", filepath.Base(p), err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("the bundle's %s is larger than %d bytes", filepath.Base(p), max)
	}
	return data, err
}

func mustHash(hexSum string) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hexSum}
}
