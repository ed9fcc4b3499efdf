// Package verify checks Git commit and tag signatures against trusted keys:
// OpenPGP signatures against armored public keys, SSH signatures against an
// allowed_signers list (the format `git` itself uses with gpg.format=ssh). It is
// pure: keys and signed bytes in, the key that signed (or why not) out.
package verify

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/hiddeco/sshsig"
	"github.com/lockstep-dev/lockstep/internal/source"
	"golang.org/x/crypto/ssh"
)

// Limits on what a key source or a signature may hold; anything larger is
// refused rather than parsed.
const (
	MaxKeyFileSize   = 1 << 20
	MaxSignatureSize = 64 << 10
	maxKeys          = 1000
)

// Errors wrapped by Verify, so that callers can tell the cases apart.
var (
	// ErrUnsigned: there is no signature.
	ErrUnsigned = errors.New("not signed")
	// ErrUntrusted: the signature is made with a key that is not trusted.
	ErrUntrusted = errors.New("signed with a key that is not trusted")
	// ErrInvalid: the signature does not verify (the content was changed after
	// signing, or the signature is malformed or expired).
	ErrInvalid = errors.New("signature does not verify")
)

// KeyRing holds trusted PGP keys and SSH allowed signers.
type KeyRing struct {
	pgp openpgp.EntityList
	ssh []allowedSigner
}

// Len is the number of trusted keys.
func (k *KeyRing) Len() int { return len(k.pgp) + len(k.ssh) }

// Add reads one key file: one or more ASCII-armored PGP public key blocks, or
// an allowed_signers file. name is used in errors only.
func (k *KeyRing) Add(name string, data []byte) error {
	if len(data) > MaxKeyFileSize {
		return fmt.Errorf("%s: %d bytes, over the %d-byte limit for a key file", name, len(data), MaxKeyFileSize)
	}
	before := k.Len()
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		if err := k.addPGP(data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	} else if err := k.addAllowedSigners(data); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if k.Len() == before {
		return fmt.Errorf("%s holds no public key (want an armored PGP public key block or allowed_signers lines)", name)
	}
	if k.Len() > maxKeys {
		return fmt.Errorf("%s: more than %d trusted keys", name, maxKeys)
	}
	return nil
}

func (k *KeyRing) addPGP(data []byte) error {
	const begin = "-----BEGIN PGP"
	for len(bytes.TrimSpace(data)) > 0 {
		start := bytes.Index(data, []byte(begin))
		if start < 0 {
			break
		}
		data = data[start:]
		next := bytes.Index(data[len(begin):], []byte(begin))
		block := data
		if next >= 0 {
			block, data = data[:len(begin)+next], data[len(begin)+next:]
		} else {
			data = nil
		}
		entities, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
		if err != nil {
			return fmt.Errorf("reading PGP public keys: %w", err)
		}
		for _, e := range entities {
			if e.PrivateKey != nil {
				return errors.New("holds a PGP private key; give the public key only")
			}
		}
		k.pgp = append(k.pgp, entities...)
	}
	return nil
}

// Result names the trusted key that made a valid signature.
type Result struct {
	// Key is "PGP:<fingerprint>" or "SSH:SHA256:<fingerprint>", the form the
	// audit ledger uses.
	Key string
	// Signer is the key's identity: the PGP user ID or the SSH principals.
	Signer string
}

func (r Result) String() string {
	if r.Signer == "" {
		return r.Key
	}
	return r.Key + " (" + r.Signer + ")"
}

// Verify checks that signature (armored, as Git stores it) signs payload with a
// trusted key.
func (k *KeyRing) Verify(payload []byte, signature string) (Result, error) {
	switch {
	case strings.TrimSpace(signature) == "":
		return Result{}, ErrUnsigned
	case len(signature) > MaxSignatureSize:
		return Result{}, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrInvalid, len(signature), MaxSignatureSize)
	case strings.Contains(signature, "-----BEGIN PGP SIGNATURE-----"):
		return k.verifyPGP(payload, signature)
	case strings.Contains(signature, "-----BEGIN SSH SIGNATURE-----"):
		return k.verifySSH(payload, signature)
	}
	return Result{}, fmt.Errorf("%w: neither a PGP nor an SSH signature (X.509 signatures are not supported)", ErrInvalid)
}

func (k *KeyRing) verifyPGP(payload []byte, signature string) (Result, error) {
	signer, err := openpgp.CheckArmoredDetachedSignature(k.pgp, bytes.NewReader(payload), strings.NewReader(signature), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return Result{}, fmt.Errorf("%w: PGP key %s", ErrUntrusted, strings.TrimPrefix(source.SignatureKey(signature), "PGP:"))
	case err != nil:
		return Result{}, fmt.Errorf("%w: PGP: %w", ErrInvalid, err)
	}
	res := Result{Key: fmt.Sprintf("PGP:%X", signer.PrimaryKey.Fingerprint)}
	if id := signer.PrimaryIdentity(); id != nil {
		res.Signer = id.Name
	}
	return res, nil
}

func (k *KeyRing) verifySSH(payload []byte, signature string) (Result, error) {
	sig, err := sshsig.Unarmor([]byte(signature))
	if err != nil {
		return Result{}, fmt.Errorf("%w: SSH: %w", ErrInvalid, err)
	}
	fingerprint := ssh.FingerprintSHA256(sig.PublicKey)
	for _, s := range k.ssh {
		if ssh.FingerprintSHA256(s.key) != fingerprint {
			continue
		}
		if !s.allowsNamespace("git") {
			continue
		}
		if err := sshsig.Verify(bytes.NewReader(payload), sig, s.key, sig.HashAlgorithm, "git"); err != nil {
			return Result{}, fmt.Errorf("%w: SSH: %w", ErrInvalid, err)
		}
		return Result{Key: "SSH:" + fingerprint, Signer: strings.Join(s.principals, ",")}, nil
	}
	return Result{}, fmt.Errorf("%w: SSH key %s", ErrUntrusted, fingerprint)
}
