package sops

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
)

// metadata is the part of a file's sops key this reader uses.
type metadata struct {
	Age              []ageStanza `yaml:"age"`
	KeyGroups        []keyGroup  `yaml:"key_groups"`
	ShamirThreshold  int         `yaml:"shamir_threshold"`
	LastModified     string      `yaml:"lastmodified"`
	MAC              string      `yaml:"mac"`
	MACOnlyEncrypted bool        `yaml:"mac_only_encrypted"`

	// Which values are encrypted, as SOPS decides it (sops.Tree's
	// shouldBeEncrypted). None of it is covered by the MAC: the reader
	// requires ciphertext exactly where they say, so changing them makes a
	// file fail rather than lets a value through.
	UnencryptedSuffix       string `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex"`
}

// maxStanzas bounds the recipients a file may list: each costs a key exchange.
const maxStanzas = 64

// rules are a file's encryption rules, compiled.
type rules struct {
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
}

func (m *metadata) rules() (rules, error) {
	r := rules{unencryptedSuffix: m.UnencryptedSuffix, encryptedSuffix: m.EncryptedSuffix}
	if m.UnencryptedCommentRegex != "" || m.EncryptedCommentRegex != "" {
		return r, errors.New("SOPS files whose encryption follows comments (encrypted_comment_regex, unencrypted_comment_regex) are not supported")
	}
	for _, c := range []struct {
		pattern string
		into    **regexp.Regexp
	}{{m.UnencryptedRegex, &r.unencryptedRegex}, {m.EncryptedRegex, &r.encryptedRegex}} {
		if c.pattern == "" {
			continue
		}
		re, err := regexp.Compile(c.pattern)
		if err != nil {
			return r, errors.New("the sops metadata holds a regular expression that does not compile")
		}
		*c.into = re
	}
	return r, nil
}

// encrypted says whether SOPS encrypts the value at path, by the same rules in
// the same order as SOPS.
func (r rules) encrypted(path []string) bool {
	encrypted := true
	if r.unencryptedSuffix != "" && slices.ContainsFunc(path, func(p string) bool { return strings.HasSuffix(p, r.unencryptedSuffix) }) {
		encrypted = false
	}
	if r.encryptedSuffix != "" {
		encrypted = slices.ContainsFunc(path, func(p string) bool { return strings.HasSuffix(p, r.encryptedSuffix) })
	}
	if r.unencryptedRegex != nil && slices.ContainsFunc(path, r.unencryptedRegex.MatchString) {
		encrypted = false
	}
	if r.encryptedRegex != nil {
		encrypted = slices.ContainsFunc(path, r.encryptedRegex.MatchString)
	}
	return encrypted
}

type ageStanza struct {
	Recipient string `yaml:"recipient"`
	Enc       string `yaml:"enc"`
}

type keyGroup struct {
	Age []ageStanza `yaml:"age"`
}

func readMetadata(n *yaml.Node) (*metadata, error) {
	if err := plainTree(n); err != nil {
		return nil, err
	}
	m := &metadata{}
	if err := n.Decode(m); err != nil {
		return nil, errors.New("the sops metadata cannot be read")
	}
	if m.MACOnlyEncrypted {
		// Its plain values are in no MAC: anyone could change them.
		return nil, errors.New("SOPS files written with mac_only_encrypted are refused: their plain values are not authenticated")
	}
	if len(m.stanzas()) > maxStanzas {
		return nil, fmt.Errorf("the SOPS file lists more than %d age recipients", maxStanzas)
	}
	if m.ShamirThreshold > 1 {
		return nil, fmt.Errorf("SOPS files split across key groups (shamir_threshold %d) are not supported", m.ShamirThreshold)
	}
	if m.MAC == "" || m.LastModified == "" {
		return nil, errors.New("the sops metadata has no mac or lastmodified")
	}
	return m, nil
}

// stanzas are the file's age recipients with their encrypted data keys.
func (m *metadata) stanzas() []ageStanza {
	out := append([]ageStanza{}, m.Age...)
	for _, g := range m.KeyGroups {
		out = append(out, g.Age...)
	}
	return out
}

// dataKey decrypts the file's data key with the first identity that can.
func (m *metadata) dataKey(ids []age.Identity) ([]byte, error) {
	stanzas := m.stanzas()
	if len(stanzas) == 0 {
		return nil, errors.New("the SOPS file has no age recipient; only age keys are supported")
	}
	recipients := make([]string, len(stanzas))
	for i, s := range stanzas {
		recipients[i] = s.Recipient
		key, err := readArmored(s.Enc, ids)
		if err == nil && len(key) == 32 {
			return key, nil
		}
	}
	if len(recipients) > 5 {
		recipients = append(recipients[:5], fmt.Sprintf("and %d more", len(recipients)-5))
	}
	for i, r := range recipients {
		recipients[i] = truncate(r, 100)
	}
	return nil, fmt.Errorf("no configured age key decrypts the SOPS file (recipients %s)", strings.Join(recipients, ", "))
}

// plainTree refuses aliases (one stanza repeated a hundred thousand times is
// hours of key exchanges) and duplicate keys in the metadata.
func plainTree(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return errors.New("the sops metadata holds a YAML alias; refused")
	}
	if n.Kind == yaml.MappingNode {
		keys := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if keys[n.Content[i].Value] {
				return fmt.Errorf("the sops metadata holds %q twice", truncate(n.Content[i].Value, 64))
			}
			keys[n.Content[i].Value] = true
		}
	}
	for _, c := range n.Content {
		if err := plainTree(c); err != nil {
			return err
		}
	}
	return nil
}

// checkMAC compares the file's MAC (encrypted with the data key, its
// lastmodified time as additional data) with the one computed.
func (m *metadata) checkMAC(key []byte, computed string) error {
	changed := errors.New("the SOPS file's MAC does not match: it was changed after it was encrypted")
	t, err := time.Parse(time.RFC3339, m.LastModified)
	if err != nil {
		return changed
	}
	mac, typ, err := decryptValue(m.MAC, key, t.Format(time.RFC3339))
	if err != nil || typ != "str" || mac != computed {
		return changed
	}
	return nil
}
