// Package sopsfile encrypts files the way `sops --encrypt --age RECIPIENT`
// does, for tests and the development environment: no sops binary is needed.
package sopsfile

import (
	"errors"
	"fmt"
	"path"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// Key is an age key pair.
type Key struct {
	// Identity is the private key, AGE-SECRET-KEY-1...: what the decryption
	// Secret holds.
	Identity string
	// Recipient is the public key, age1...: what files are encrypted to.
	Recipient string
}

// NewKey generates an age key pair.
func NewKey() (Key, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Key{}, err
	}
	return Key{Identity: id.String(), Recipient: id.Recipient().String()}, nil
}

type store interface {
	LoadPlainFile(in []byte) (sops.TreeBranches, error)
	EmitEncryptedFile(sops.Tree) ([]byte, error)
}

// Encrypt encrypts the values of a YAML or JSON file (chosen by name's
// extension) matching encryptedRegex (every value when empty) to recipient.
func Encrypt(name string, plain []byte, recipient, encryptedRegex string) ([]byte, error) {
	var s store
	switch path.Ext(name) {
	case ".yaml", ".yml":
		s = sopsyaml.NewStore(&config.YAMLStoreConfig{})
	case ".json":
		s = sopsjson.NewStore(&config.JSONStoreConfig{})
	default:
		return nil, fmt.Errorf("%s: only YAML and JSON files", name)
	}
	branches, err := s.LoadPlainFile(plain)
	if err != nil {
		return nil, err
	}
	key, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		return nil, err
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{{key}}, EncryptedRegex: encryptedRegex, Version: "3.13.3",
	}}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, err
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	return s.EmitEncryptedFile(tree)
}
