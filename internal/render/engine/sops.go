package engine

import (
	"errors"
	"path"

	"filippo.io/age"

	"github.com/lockstep-dev/lockstep/internal/render/sops"
)

// sopsFormat reports whether SOPS decryption applies to a file: YAML and JSON.
func sopsFormat(name string) bool {
	switch path.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// decryptSOPS returns the plaintext of a SOPS-encrypted YAML or JSON file, the
// values that were ciphertext in Git under a Secret's data or stringData (to
// find them should they reappear), and whether it was encrypted. Only age keys
// are used (package sops); the MAC is checked, so a file changed after
// encryption is refused. Errors never carry values.
func decryptSOPS(name string, data []byte, identities []age.Identity) (plain []byte, secrets []string, encrypted bool, err error) {
	if !sopsFormat(name) {
		return data, nil, false, nil
	}
	d, encrypted, err := sops.Decrypt(data, identities)
	switch {
	case errors.Is(err, sops.ErrNoIdentity):
		return nil, nil, true, &Error{File: name, Err: ErrNoDecryptionKey}
	case err != nil:
		return nil, nil, true, &Error{File: name, Err: err}
	}
	return d.Plain, d.Secrets, encrypted, nil
}

// ParseAgeIdentities reads age identities (AGE-SECRET-KEY-1... lines; blank
// lines and # comments are skipped) for Options.AgeIdentities. The error
// never holds key material.
func ParseAgeIdentities(text string) ([]age.Identity, error) {
	return sops.ParseIdentities(text)
}
