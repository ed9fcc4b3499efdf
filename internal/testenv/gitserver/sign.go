package gitserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// PGPKey is an OpenPGP key pair for signing commits and tags in tests.
type PGPKey struct {
	Entity *openpgp.Entity
}

// NewPGPKey creates an ed25519 OpenPGP key for name <email>.
func NewPGPKey(name, email string) (*PGPKey, error) {
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return nil, fmt.Errorf("creating PGP key for %s: %w", email, err)
	}
	return &PGPKey{Entity: e}, nil
}

// ArmoredPublicKey returns the public key as an ASCII-armored block, the form a
// trusted-keys Secret holds.
func (k *PGPKey) ArmoredPublicKey() (string, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	if err := k.Entity.Serialize(w); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Fingerprint returns the primary key's fingerprint in upper-case hex.
func (k *PGPKey) Fingerprint() string {
	return fmt.Sprintf("%X", k.Entity.PrimaryKey.Fingerprint)
}

// Sign makes a detached, armored signature, as `git commit -S` stores it.
func (k *PGPKey) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, k.Entity, message, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// SSHKey is an SSH key pair for signing commits (gpg.format=ssh) and for
// authenticating to the server.
type SSHKey struct {
	Signer ssh.Signer
	// PrivateKeyPEM is the OpenSSH private key file content, for ssh -i.
	PrivateKeyPEM []byte
}

// NewSSHKey creates an ed25519 SSH key.
func NewSSHKey() (*SSHKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "lockstep test key")
	if err != nil {
		return nil, err
	}
	return &SSHKey{Signer: signer, PrivateKeyPEM: pem.EncodeToMemory(block)}, nil
}

// AuthorizedKey returns the public key in authorized_keys / allowed_signers form.
func (k *SSHKey) AuthorizedKey() string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(k.Signer.PublicKey())))
}

// Sign makes an armored SSH signature in the "git" namespace, as git does with
// gpg.format=ssh.
func (k *SSHKey) Sign(message io.Reader) ([]byte, error) {
	sig, err := sshsig.Sign(message, k.Signer, sshsig.HashSHA512, "git")
	if err != nil {
		return nil, err
	}
	return sshsig.Armor(sig), nil
}
