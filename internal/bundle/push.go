package bundle

import (
	"fmt"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push copies the image of an unpacked bundle to dst (a registry
// repository with a tag) and returns its reference by digest, which is what
// lockstep install --image takes. Verify the bundle first: Push checks
// nothing.
func Push(dir string, dst name.Tag, opts ...remote.Option) (name.Digest, error) {
	img, _, err := layoutImage(filepath.Join(dir, ImageDir))
	if err != nil {
		return name.Digest{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(dst, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing to %s: %w", dst, err)
	}
	return dst.Context().Digest(digest.String()), nil
}
