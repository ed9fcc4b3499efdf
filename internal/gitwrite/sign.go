package gitwrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signer signs a commit. Sign is given the commit as Git encodes it without
// its signature and returns the armored signature Git stores in the commit's
// gpgsig header. It is go-git's Signer, so any of its signers fits.
type Signer interface {
	Sign(message io.Reader) ([]byte, error)
}

// SigningKey is a private key that signs commits as git does: an OpenPGP
// key as with gpg.format=openpgp, an SSH key as with gpg.format=ssh.
type SigningKey struct {
	id, public string
	sign       func(io.Reader) ([]byte, error)
}

// Sign makes the armored, detached signature of message.
func (k *SigningKey) Sign(message io.Reader) ([]byte, error) { return k.sign(message) }

// ID names the key as a verified signature's key is named
// ("SSH:SHA256:<fingerprint>" or "PGP:<fingerprint>").
func (k *SigningKey) ID() string { return k.id }

// PublicKey is what those who verify the commits trust: an allowed_signers
// line (a bare SSH public key) or an armored OpenPGP public key block.
func (k *SigningKey) PublicKey() string { return k.public }

// ParseSigningKey reads a private key and tells its kind: an SSH private key
// (OpenSSH or PEM, e.g. ed25519) or an armored OpenPGP private key. The key
// must not be protected by a passphrase: Lockstep signs unattended.
func ParseSigningKey(data []byte) (*SigningKey, error) {
	switch {
	case bytes.Contains(data, []byte(pgpPrivateBegin)):
		return parsePGP(data)
	case bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")):
		return nil, errors.New("signing key: this is an OpenPGP public key: give the private key (gpg --armor --export-secret-keys KEYID)")
	case bytes.Contains(data, []byte("PRIVATE KEY-----")):
		return parseSSH(data)
	case isSSHPublicKey(data):
		return nil, errors.New("signing key: this is an SSH public key: give the private key file (the one without .pub)")
	}
	return nil, errors.New("signing key: neither an SSH private key (-----BEGIN OPENSSH PRIVATE KEY-----) nor an armored OpenPGP private key (" + pgpPrivateBegin + "): give one of those")
}

const pgpPrivateBegin = "-----BEGIN PGP PRIVATE KEY BLOCK-----"

func isSSHPublicKey(data []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(data)
	return err == nil
}

func parseSSH(data []byte) (*SigningKey, error) {
	signer, err := ssh.ParsePrivateKey(data)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, errors.New("signing key: the SSH key is protected by a passphrase: give a key without one (ssh-keygen -p -N '' -f a copy of it)")
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: reading the SSH private key: %w: give the whole key file as ssh-keygen wrote it", err)
	}
	pub := signer.PublicKey()
	return &SigningKey{
		id:     "SSH:" + ssh.FingerprintSHA256(pub),
		public: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		sign: func(message io.Reader) ([]byte, error) {
			// SHA-512 and the namespace "git": what git writes with
			// gpg.format=ssh, and what Lockstep's verifier asks for.
			sig, err := sshsig.Sign(message, signer, sshsig.HashSHA512, "git")
			if err != nil {
				return nil, err
			}
			return sshsig.Armor(sig), nil
		},
	}, nil
}

func parsePGP(data []byte) (*SigningKey, error) {
	// Only the first armored block would be read: a second one is refused
	// rather than silently ignored.
	if n := bytes.Count(data, []byte(pgpPrivateBegin)); n > 1 {
		return nil, fmt.Errorf("signing key: %d OpenPGP key blocks: give only the one to sign with", n)
	}
	entities, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("signing key: reading the OpenPGP private key: %w: give the whole block gpg --armor --export-secret-keys wrote", err)
	}
	if len(entities) != 1 {
		return nil, fmt.Errorf("signing key: %d OpenPGP keys in one block: give only the one to sign with", len(entities))
	}
	e := entities[0]
	key, ok := e.SigningKey(time.Now())
	switch {
	case !ok:
		return nil, errors.New("signing key: the OpenPGP key has no key valid for signing (expired or revoked?): give another")
	case key.PrivateKey == nil:
		return nil, errors.New("signing key: the OpenPGP block holds no private part for its signing key: export the secret key")
	case key.PrivateKey.Dummy():
		return nil, errors.New("signing key: the OpenPGP export holds only a stub of its signing key (it lives on a smartcard or was exported without it): export the secret signing key")
	case key.PrivateKey.Encrypted:
		return nil, errors.New("signing key: the OpenPGP key is protected by a passphrase: export a copy without one (gpg --passwd on a copy, empty passphrase)")
	}
	public, err := armoredPublic(e)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &SigningKey{
		id:     fmt.Sprintf("PGP:%X", e.PrimaryKey.Fingerprint),
		public: public,
		sign: func(message io.Reader) ([]byte, error) {
			var b bytes.Buffer
			if err := openpgp.ArmoredDetachSign(&b, e, message, nil); err != nil {
				return nil, err
			}
			return b.Bytes(), nil
		},
	}, nil
}

func armoredPublic(e *openpgp.Entity) (string, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	if err := e.Serialize(w); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return b.String() + "\n", nil
}

// signing says, when a signer fails, that the signing failed: go-git
// returns its error as the commit's.
type signing struct{ Signer }

func (s signing) Sign(message io.Reader) ([]byte, error) {
	sig, err := s.Signer.Sign(message)
	if err != nil {
		return nil, fmt.Errorf("signing the commit: %w: check the signing key", err)
	}
	return sig, nil
}
