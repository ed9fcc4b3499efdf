package image

import (
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Files under an output folder of WriteTo.
const (
	LayoutDir = "oci"          // the image as an OCI image layout
	Tarball   = "lockstep.tar" // the image as a tarball (docker load, crane push)
)

// RefName is the OCI annotation that names an image in a layout.
const RefName = "org.opencontainers.image.ref.name"

// WriteTo writes img into dir as an OCI image layout and as a tarball,
// both naming it ref.
func WriteTo(dir string, img v1.Image, ref name.Tag) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// A layout is written afresh: blobs of an earlier build would stay in
	// it, and in whatever is made from it, unseen.
	if err := os.RemoveAll(filepath.Join(dir, LayoutDir)); err != nil {
		return err
	}
	lp, err := layout.Write(filepath.Join(dir, LayoutDir), empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{RefName: ref.String()})); err != nil {
		return err
	}
	return tarball.WriteToFile(filepath.Join(dir, Tarball), ref, img)
}
