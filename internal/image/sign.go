package image

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// Signature says, signed, which image and which SBOM a key vouches for.
// It is checked offline, with the public key alone.
type Signature struct {
	// Image is the image manifest's digest (sha256:...).
	Image string `json:"image"`
	// SBOM is the SBOM file's digest.
	SBOM string `json:"sbom"`
	// Key is the signing key's fingerprint.
	Key string `json:"key"`
	// Signature is ed25519 over the payload, base64.
	Signature string `json:"signature"`
}

// payload is what is signed: a fixed prefix (so the signature means nothing
// in another context), the image's digest and the SBOM's.
func (s Signature) payload() []byte {
	return []byte("lockstep image signature v1\n" + s.Image + "\n" + s.SBOM + "\n")
}

// Sign signs the image's and the SBOM's digests.
func Sign(key ed25519.PrivateKey, image, sbom v1.Hash) ([]byte, error) {
	s := Signature{Image: image.String(), SBOM: sbom.String(), Key: signkey.Fingerprint(key.Public().(ed25519.PublicKey))}
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, s.payload()))
	return json.MarshalIndent(s, "", "  ")
}

// Verify checks that data is a signature by pub of the image and the SBOM
// with these digests.
func Verify(pub ed25519.PublicKey, data []byte, image, sbom v1.Hash) error {
	var s Signature
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("the signature is not readable: %w", err)
	}
	if s.Image != image.String() || s.SBOM != sbom.String() {
		return fmt.Errorf("the signature is of image %s and SBOM %s, not of %s and %s", s.Image, s.SBOM, image, sbom)
	}
	if fp := signkey.Fingerprint(pub); s.Key != fp {
		return fmt.Errorf("the signature names key %s, not the trusted key %s", s.Key, fp)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, s.payload(), sig) {
		return errors.New("the signature does not match: the image, the SBOM or the signature was changed")
	}
	return nil
}
