package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// checkImage checks that every blob of the layout image desc names is what
// names it, reading each once: the manifest is desc's (digest and size),
// the config is the manifest's, each layer is the manifest's (compressed
// digest and size) and, uncompressed, the config's diff_id at its place,
// and there are as many layers as diff_ids.
//
// go-containerregistry's validate.Image checks the same of a local layout,
// but it links go-cmp, whose use of reflect.Type.Method keeps the linker
// from dropping unused methods anywhere in the binary.
func checkImage(img v1.Image, desc v1.Descriptor) error {
	raw, err := img.RawManifest()
	if err != nil {
		return blobError("the manifest", desc.Digest, err)
	}
	if err := sameBlob("the manifest", "the index", desc, raw); err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("the manifest %s: %w", desc.Digest, err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return blobError("the config", m.Config.Digest, err)
	}
	if err := sameBlob("the config", "the manifest", m.Config, rawConfig); err != nil {
		return err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return fmt.Errorf("the config %s: %w", m.Config.Digest, err)
	}
	if cfg.RootFS.Type != "layers" {
		return fmt.Errorf("the config %s: rootfs.type is %q, not \"layers\"", m.Config.Digest, cfg.RootFS.Type)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return fmt.Errorf("the manifest %s lists %d layers but its config %s has %d diff_ids", desc.Digest, len(m.Layers), m.Config.Digest, len(cfg.RootFS.DiffIDs))
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("the manifest %s: %w", desc.Digest, err)
	}
	for i, l := range layers {
		if err := checkLayer(fmt.Sprintf("layer %d", i), l, m.Layers[i], cfg.RootFS.DiffIDs[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkLayer reads layer l once: its bytes must be want's and, uncompressed,
// hash to diffID.
func checkLayer(what string, l v1.Layer, want v1.Descriptor, diffID v1.Hash) error {
	rc, err := l.Compressed()
	if err != nil {
		return blobError(what, want.Digest, err)
	}
	defer rc.Close()
	compressed := sha256.New()
	counted := &counter{r: io.TeeReader(rc, compressed)}
	uncompressed := sha256.New()
	var unpackErr error
	switch want.MediaType {
	case types.OCILayer, types.DockerLayer:
		unpackErr = gunzipInto(uncompressed, counted)
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		_, unpackErr = io.Copy(uncompressed, counted)
	default:
		return fmt.Errorf("%s (blob %s) is a %s, not a tar or gzip'd tar layer", what, want.Digest, want.MediaType)
	}
	// What gzip left unread counts towards the blob's digest too.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return blobError(what, want.Digest, err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.Sum(nil))}
	if got != want.Digest || counted.n != want.Size {
		return fmt.Errorf("%s blob %s holds %d bytes of digest %s, not the %d bytes the manifest names: it was changed", what, want.Digest, counted.n, got, want.Size)
	}
	if unpackErr != nil {
		return fmt.Errorf("%s (blob %s) does not uncompress: %w", what, want.Digest, unpackErr)
	}
	if got := (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))}); got != diffID {
		return fmt.Errorf("%s (blob %s) uncompresses to %s, not the config's diff_id %s", what, want.Digest, got, diffID)
	}
	return nil
}

func gunzipInto(w hash.Hash, r io.Reader) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, gz); err != nil {
		return err
	}
	return gz.Close()
}

// sameBlob checks that data is the blob want, namedBy's, describes.
func sameBlob(what, namedBy string, want v1.Descriptor, data []byte) error {
	got, size, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if got != want.Digest || size != want.Size {
		return fmt.Errorf("%s blob %s holds %d bytes of digest %s, not the %d bytes %s names: it was changed", what, want.Digest, size, got, want.Size, namedBy)
	}
	return nil
}

// blobError says which blob could not be read, and that it is missing when
// it is.
func blobError(what string, digest v1.Hash, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s (blob %s) is missing: %w", what, digest, err)
	}
	return fmt.Errorf("%s (blob %s): %w", what, digest, err)
}

// counter counts what is read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
