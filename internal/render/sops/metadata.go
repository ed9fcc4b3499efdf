package sops

import (
	"errors"
	"fmt"
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
}

type ageStanza struct {
	Recipient string `yaml:"recipient"`
	Enc       string `yaml:"enc"`
}

type keyGroup struct {
	Age []ageStanza `yaml:"age"`
}

func readMetadata(n *yaml.Node) (*metadata, error) {
	m := &metadata{}
	if err := n.Decode(m); err != nil {
		return nil, errors.New("the sops metadata cannot be read")
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
	return nil, fmt.Errorf("no configured age key decrypts the SOPS file (recipients %s)", strings.Join(recipients, ", "))
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
