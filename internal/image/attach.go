package image

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What travels with the image into a registry: OCI 1.1 artifacts whose
// subject is the image, so that a registry lists them with it (the
// referrers API, or the referrers tag where a registry has none).
const (
	SBOMType      = "application/vnd.cyclonedx+json"
	SignatureType = "application/vnd.lockstep.image-signature.v1+json"
	emptyType     = "application/vnd.oci.empty.v1+json"
)

// Size bounds of attachments read back from a registry, which is not
// trusted more than any other input.
const (
	maxSBOM        = 16 << 20
	maxSignature   = 64 << 10
	maxAttachments = 16 // of each type
)

// Attach pushes data as an artifact of artifactType whose subject is the
// image subject (its manifest's descriptor), into repo.
func Attach(repo name.Repository, subject v1.Descriptor, artifactType string, data []byte, opts ...remote.Option) error {
	empty := static.NewLayer([]byte("{}"), emptyType)
	layer := static.NewLayer(data, types.MediaType(artifactType))
	for _, l := range []v1.Layer{empty, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return fmt.Errorf("pushing the %s: %w", artifactType, err)
		}
	}
	emptyDigest, _ := empty.Digest()
	layerDigest, _ := layer.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: emptyType, Size: 2, Digest: emptyDigest, Data: []byte("{}")},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(artifactType), Size: int64(len(data)), Digest: layerDigest}},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	digest, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := remote.Put(repo.Digest(digest.String()), rawManifest(raw), opts...); err != nil {
		return fmt.Errorf("pushing the %s's manifest: %w", artifactType, err)
	}
	return nil
}

// rawManifest is a manifest to put as it is.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// VerifyRemote checks an image in a registry, by digest, offline of any
// other source: an SBOM and a signature attached to it, the signature by
// pub over the image's digest and that SBOM's. It returns the SBOM.
func VerifyRemote(ref name.Digest, pub ed25519.PublicKey, opts ...remote.Option) ([]byte, error) {
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if desc.Digest.String() != ref.DigestStr() {
		return nil, fmt.Errorf("the registry answered %s for %s", desc.Digest, ref)
	}
	idx, err := remote.Referrers(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing what is attached to %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	// At most maxAttachments of each are read, and one that cannot be read
	// is passed over: a registry (or whoever may push to it) must not make
	// the check endless, nor fail a signed image with junk beside it.
	var sboms, sigs [][]byte
	var skipped []string
	for _, d := range im.Manifests {
		var into *[][]byte
		var max int64
		switch d.ArtifactType {
		case SBOMType:
			into, max = &sboms, maxSBOM
		case SignatureType:
			into, max = &sigs, maxSignature
		default:
			continue
		}
		if len(*into) == maxAttachments {
			continue
		}
		data, err := attachment(ref.Context().Digest(d.Digest.String()), max, opts...)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		*into = append(*into, data)
	}
	if len(sboms) == 0 || len(sigs) == 0 {
		msg := fmt.Sprintf("%s has %d readable SBOMs and %d signatures attached: push it with lockstep bundle push", ref, len(sboms), len(sigs))
		if len(skipped) > 0 {
			msg += " (passed over: " + strings.Join(skipped, "; ") + ")"
		}
		return nil, errors.New(msg)
	}
	digest, _ := v1.NewHash(ref.DigestStr())
	var last error
	for _, sbom := range sboms {
		sbomDigest, _, _ := v1.SHA256(bytes.NewReader(sbom))
		for _, sig := range sigs {
			if last = Verify(pub, sig, digest, sbomDigest); last == nil {
				return sbom, nil
			}
		}
	}
	return nil, last
}

// attachment is the one layer of an artifact manifest, at most max bytes.
func attachment(ref name.Digest, max int64, opts ...remote.Option) ([]byte, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		return nil, fmt.Errorf("%s: want one layer: %v", ref, err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err == nil && int64(len(data)) > max {
		err = errors.New("larger than " + fmt.Sprint(max) + " bytes")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return data, nil
}
