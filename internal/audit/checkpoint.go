package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// CheckpointKind tells a head checkpoint from a retention cut.
type CheckpointKind string

const (
	// CheckpointHead signs the newest record: Seq and Hash are its own. Deleting
	// or editing the newest records is detected against it.
	CheckpointHead CheckpointKind = "head"
	// CheckpointCut signs where retention cut the chain: Seq is the first record
	// kept and Hash the hash that record must hold as PrevHash.
	CheckpointCut CheckpointKind = "cut"
)

// Checkpoint is a signed statement about the chain.
type Checkpoint struct {
	Kind CheckpointKind `json:"kind"`
	Seq  uint64         `json:"seq"`
	Hash string         `json:"hash"`
	Time time.Time      `json:"time"`
	// PublicKey is the signer's ed25519 public key, base64; Signature is over
	// payload(), base64.
	PublicKey string `json:"publicKey"`
	Signature string `json:"signature"`
}

func (c Checkpoint) payload() []byte {
	return []byte("lockstep-ledger-checkpoint/v1\n" + string(c.Kind) + "\n" + strconv.FormatUint(c.Seq, 10) + "\n" +
		c.Hash + "\n" + c.Time.UTC().Format(time.RFC3339Nano) + "\n")
}

func sign(key ed25519.PrivateKey, c Checkpoint) Checkpoint {
	c.Time = c.Time.UTC()
	c.PublicKey = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.payload()))
	return c
}

// verifyWith checks the signature against trusted, or against the key the
// checkpoint names when trusted is nil.
func (c Checkpoint) verifyWith(trusted ed25519.PublicKey) error {
	named, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(named) != ed25519.PublicKeySize {
		return fmt.Errorf("%s checkpoint: malformed public key", c.Kind)
	}
	if trusted != nil && !trusted.Equal(ed25519.PublicKey(named)) {
		return fmt.Errorf("%s checkpoint is signed by %s, not by the trusted key %s", c.Kind, Fingerprint(named), Fingerprint(trusted))
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(named, c.payload(), sig) {
		return fmt.Errorf("%s checkpoint at record #%d: the signature does not match (the checkpoint was altered)", c.Kind, c.Seq)
	}
	return nil
}

// Fingerprint names an ed25519 public key as ssh-keygen does: SHA256:base64.
func Fingerprint(pub ed25519.PublicKey) string { return signkey.Fingerprint(pub) }

// GenerateKey makes a new signing key.
func GenerateKey() (ed25519.PrivateKey, error) { return signkey.Generate() }

// MarshalKey encodes a signing key as PKCS#8 PEM, and its public key as PKIX PEM.
func MarshalKey(key ed25519.PrivateKey) (private, public []byte, err error) {
	return signkey.Marshal(key)
}

// MarshalPublicKey encodes a public key as PKIX PEM.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) { return signkey.MarshalPublic(pub) }

// ParseKey reads a PKCS#8 PEM ed25519 private key.
func ParseKey(data []byte) (ed25519.PrivateKey, error) {
	return signkey.ParsePrivate(data, "ledger signing key")
}

// ParsePublicKey reads a PKIX PEM ed25519 public key, or a bare base64 one.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	return signkey.ParsePublic(data, "ledger public key")
}

func hashOf(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
