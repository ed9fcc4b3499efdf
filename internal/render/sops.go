package render

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/logging"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/sirupsen/logrus"
)

func init() {
	// SOPS logs every decryption at info level to stderr; the controller
	// reports what matters itself.
	logging.SetLevel(logrus.WarnLevel)
}

// ErrNoDecryptionKey is wrapped when a file is SOPS-encrypted and no age key
// was given.
var ErrNoDecryptionKey = errors.New("the file is SOPS-encrypted and no age key is configured (spec.decryption.secretRef)")

// ErrDecryptionNotHere is wrapped when a Helm chart or Jsonnet program holds a
// SOPS-encrypted file: templates and programs can transform a value past any
// check, so decrypted values are only handed to manifests.
var ErrDecryptionNotHere = errors.New("SOPS-encrypted files are decrypted in plain YAML and Kustomize folders only, not in Helm charts or Jsonnet (give a chart its secrets through helm.valuesFrom Secrets)")

// sopsStore is the SOPS store for a file, by extension; nil for files SOPS
// decryption does not apply to.
type sopsStore interface {
	LoadEncryptedFile(in []byte) (sops.Tree, error)
	EmitPlainFile(branches sops.TreeBranches) ([]byte, error)
}

func storeFor(name string) sopsStore {
	switch path.Ext(name) {
	case ".yaml", ".yml":
		return sopsyaml.NewStore(&config.YAMLStoreConfig{})
	case ".json":
		return sopsjson.NewStore(&config.JSONStoreConfig{})
	}
	return nil
}

// looksEncrypted is a cheap test before a full parse: SOPS files carry
// encrypted values or a top-level sops key.
func looksEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte(encryptedValue)) || sopsKey.Match(data)
}

const encryptedValue = "ENC[AES256_GCM,"

var sopsKey = regexp.MustCompile(`(?m)^(sops:|\s*"sops"\s*:)`)

// decryptSOPS returns the plaintext of a SOPS-encrypted YAML or JSON file, the
// values that were ciphertext in Git (to find them should they reappear), and
// whether it was encrypted. Only age keys are used: no KMS, no keyservice,
// no environment, no files outside the repository. The MAC is checked, so a
// file changed after encryption is refused. Errors never carry values.
func decryptSOPS(name string, data []byte, identities sopsage.ParsedIdentities) (plain []byte, secrets []string, encrypted bool, err error) {
	store := storeFor(name)
	if store == nil || !looksEncrypted(data) {
		return data, nil, false, nil
	}
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		if bytes.Contains(data, []byte(encryptedValue)) {
			// Applying ciphertext as values would be wrong, and silent.
			return nil, nil, true, &Error{File: name, Err: errors.New("holds SOPS-encrypted values but no sops metadata")}
		}
		return data, nil, false, nil
	}
	if err != nil {
		return nil, nil, true, &Error{File: name, Err: fmt.Errorf("reading the SOPS file: %w", err)}
	}
	if len(identities) == 0 {
		return nil, nil, true, &Error{File: name, Err: ErrNoDecryptionKey}
	}
	dataKey, err := dataKeyOf(tree.Metadata, identities)
	if err != nil {
		return nil, nil, true, &Error{File: name, Err: err}
	}
	before := leaves(tree.Branches)
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(dataKey, cipher)
	if err != nil {
		return nil, nil, true, &Error{File: name, Err: errors.New("decrypting the SOPS file failed (a value is damaged)")}
	}
	fileMAC, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || fileMAC != mac {
		return nil, nil, true, &Error{File: name, Err: errors.New("the SOPS file's MAC does not match: it was changed after it was encrypted")}
	}
	after := leaves(tree.Branches)
	for i, v := range before {
		if s, ok := v.value.(string); ok && strings.HasPrefix(s, "ENC[") && v.secret && i < len(after) {
			secrets = append(secrets, fmt.Sprint(after[i].value))
		}
	}
	plain, err = store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, nil, true, &Error{File: name, Err: errors.New("writing the decrypted SOPS file failed")}
	}
	return plain, secrets, true, nil
}

// leaf is a value of a SOPS tree; secret is true under a document's data or
// stringData (a Secret's values, as opposed to its kind, name or labels).
type leaf struct {
	value  any
	secret bool
}

// leaves lists a SOPS tree's leaf values in document order; decryption keeps
// the shape, so the lists before and after pair up.
func leaves(branches sops.TreeBranches) []leaf {
	var out []leaf
	var walk func(v any, secret bool)
	walk = func(v any, secret bool) {
		switch v := v.(type) {
		case sops.TreeBranch:
			for _, item := range v {
				walk(item.Value, secret)
			}
		case []any:
			for _, e := range v {
				walk(e, secret)
			}
		case nil:
		default:
			out = append(out, leaf{value: v, secret: secret})
		}
	}
	for _, doc := range branches {
		for _, item := range doc {
			walk(item.Value, item.Key == "data" || item.Key == "stringData")
		}
	}
	return out
}

// dataKeyOf decrypts the file's data key with the first age key that can.
func dataKeyOf(m sops.Metadata, identities sopsage.ParsedIdentities) ([]byte, error) {
	if m.ShamirThreshold > 1 {
		return nil, fmt.Errorf("SOPS files split across key groups (shamir_threshold %d) are not supported", m.ShamirThreshold)
	}
	var recipients []string
	for _, group := range m.KeyGroups {
		for _, k := range group {
			ak, ok := k.(*sopsage.MasterKey)
			if !ok {
				continue // a KMS or PGP key: not used inside the perimeter
			}
			recipients = append(recipients, ak.Recipient)
			identities.ApplyToMasterKey(ak)
			if key, err := ak.Decrypt(); err == nil {
				return key, nil
			}
		}
	}
	if len(recipients) == 0 {
		return nil, errors.New("the SOPS file has no age recipient; only age keys are supported")
	}
	return nil, fmt.Errorf("no configured age key decrypts the SOPS file (recipients %s)", strings.Join(recipients, ", "))
}

// ParseAgeIdentities reads age identities (AGE-SECRET-KEY-1... lines; blank
// lines and # comments are skipped) for Options.AgeIdentities. The error
// never holds key material.
func ParseAgeIdentities(text string) (sopsage.ParsedIdentities, error) {
	var ids sopsage.ParsedIdentities
	if err := ids.Import(text); err != nil {
		return nil, errors.New("not a valid age identity (want AGE-SECRET-KEY-1... lines)")
	}
	return ids, nil
}
