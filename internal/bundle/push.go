package bundle

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lockstep-dev/lockstep/internal/image"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push copies the image of an unpacked bundle to dst (a registry
// repository with a tag), with its SBOM and signature attached (OCI 1.1
// artifacts whose subject is the image), and returns its reference by
// digest, which is what lockstep install --image takes. Verify the bundle
// first, and give Push the digest it verified: Push checks that and nothing
// else.
func Push(dir string, verified v1.Hash, dst name.Tag, opts ...remote.Option) (name.Digest, error) {
	img, _, err := layoutImage(filepath.Join(dir, ImageDir))
	if err != nil {
		return name.Digest{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	if digest != verified {
		return name.Digest{}, fmt.Errorf("the image in %s is %s, not the verified %s: the unpacked bundle changed after it was verified", dir, digest, verified)
	}
	if err := remote.Write(dst, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing to %s: %w", dst, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return name.Digest{}, err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return name.Digest{}, err
	}
	subject := v1.Descriptor{MediaType: mediaType, Size: int64(len(raw)), Digest: digest}
	for file, artifactType := range map[string]string{SBOM: image.SBOMType, ImageSignature: image.SignatureType} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return name.Digest{}, err
		}
		if err := image.Attach(dst.Context(), subject, artifactType, data, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("attaching %s to %s: %w", file, dst, err)
		}
	}
	return dst.Context().Digest(digest.String()), nil
}
