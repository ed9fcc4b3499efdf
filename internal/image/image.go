// Package image builds Lockstep's container image without Docker: one layer
// holding the two static binaries (lockstep, the entrypoint, and
// lockstep-render, the sandboxed render process it starts from beside its
// own executable), the CA certificates and a non-root user, and nothing
// else; the same inputs give the same digest (no timestamps, fixed owners
// and modes, a fixed file order).
package image

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image runs, and as whom: the install's Deployment runs as 65532
// too.
const (
	Entrypoint = "/lockstep"
	// RenderBinary is where lockstep finds lockstep-render: beside its own
	// executable.
	RenderBinary = "/lockstep-render"
	User         = "65532:65532"
	// DefaultCACerts is Debian's bundle of CA certificates.
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
)

// Options say what goes into the image.
type Options struct {
	// Binary is a static lockstep binary for Platform (CGO_ENABLED=0).
	Binary string
	// RenderBinary is a static lockstep-render binary for Platform, built
	// from the same sources as Binary.
	RenderBinary string
	// CACerts is the PEM bundle the image trusts; DefaultCACerts when empty.
	CACerts string
	// Platform is the binary's; this machine's when empty.
	Platform *v1.Platform
}

// epoch is every file's and the image's time: the same inputs, the same
// digest.
var epoch = time.Unix(0, 0).UTC()

// Build makes the image.
func Build(o Options) (v1.Image, error) {
	binary, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("the binary: %w", err)
	}
	if o.RenderBinary == "" {
		return nil, errors.New("the render binary: none given (the image holds lockstep-render beside lockstep)")
	}
	render, err := os.ReadFile(o.RenderBinary)
	if err != nil {
		return nil, fmt.Errorf("the render binary: %w", err)
	}
	certs, err := os.ReadFile(cmp.Or(o.CACerts, DefaultCACerts))
	if err != nil {
		return nil, fmt.Errorf("the CA certificates: %w", err)
	}
	platform := o.Platform
	if platform == nil {
		platform = &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	layerTar, err := rootFS(binary, render, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: layer, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "lockstep image build", Comment: "the lockstep and lockstep-render binaries, CA certificates, a non-root user"},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Config = v1.Config{
		Entrypoint: []string{Entrypoint},
		User:       User,
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=" + DefaultCACerts},
		Labels:     map[string]string{"org.opencontainers.image.title": "lockstep"},
	}
	return mutate.ConfigFile(img, cfg)
}

// rootFS is the layer's tar: directories first, then files, in a fixed
// order, owned by root except the non-root user's home.
func rootFS(binary, render, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc/", 0o755, 0) },
		func() error { return dir("etc/ssl/", 0o755, 0) },
		func() error { return dir("etc/ssl/certs/", 0o755, 0) },
		func() error { return dir("home/", 0o755, 0) },
		func() error { return dir("home/nonroot/", 0o700, 65532) },
		func() error { return dir("tmp/", 0o1777, 0) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) },
		func() error { return file(strings.TrimPrefix(Entrypoint, "/"), 0o755, binary) },
		func() error { return file(strings.TrimPrefix(RenderBinary, "/"), 0o755, render) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
