package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// allowedSigner is one line of an allowed_signers file (ssh-keygen(1),
// ALLOWED SIGNERS): principals, options, a public key.
type allowedSigner struct {
	principals []string
	namespaces []string // empty: any
	key        ssh.PublicKey
}

func (s allowedSigner) allowsNamespace(ns string) bool {
	if len(s.namespaces) == 0 {
		return true
	}
	for _, n := range s.namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// addAllowedSigners parses an allowed_signers file. A line may also be a bare
// public key (authorized_keys form), trusted for any principal. Options this
// package cannot honour (cert-authority, valid-after, valid-before) are
// refused, not ignored.
func (k *KeyRing) addAllowedSigners(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxKeyFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		k.ssh = append(k.ssh, s)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading allowed signers: %w", err)
	}
	return nil
}

func parseAllowedSigner(line string) (allowedSigner, error) {
	if isKeyType(firstField(line)) {
		key, err := parseKey(line)
		return allowedSigner{principals: []string{"*"}, key: key}, err
	}
	principals, rest, ok := strings.Cut(line, " ")
	if !ok {
		return allowedSigner{}, errors.New("want: principals [options] key-type base64-key")
	}
	s := allowedSigner{principals: strings.Split(principals, ",")}
	rest = strings.TrimSpace(rest)
	if !isKeyType(firstField(rest)) {
		var options string
		options, rest, _ = strings.Cut(rest, " ")
		for _, opt := range splitOptions(options) {
			name, value, _ := strings.Cut(opt, "=")
			switch strings.ToLower(name) {
			case "namespaces":
				s.namespaces = strings.Split(strings.Trim(value, `"`), ",")
			case "cert-authority", "valid-after", "valid-before":
				return allowedSigner{}, fmt.Errorf("option %s is not supported; list the signing keys themselves", name)
			default:
				// Not quoted: the entry may be a value from a Secret that holds
				// no keys at all.
				return allowedSigner{}, errors.New("an unknown option (only namespaces= is supported)")
			}
		}
	}
	key, err := parseKey(strings.TrimSpace(rest))
	s.key = key
	return s, err
}

// parseKey reads "key-type base64-key [comment]". Options have been taken off
// already, so none are accepted here.
func parseKey(s string) (ssh.PublicKey, error) {
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	if len(options) > 0 {
		return nil, errors.New("reading the public key: unexpected options")
	}
	return key, nil
}

func firstField(s string) string {
	f, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return f
}

// isKeyType reports whether s names an SSH public key algorithm.
func isKeyType(s string) bool {
	for _, prefix := range []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// splitOptions splits comma-separated options, keeping commas inside quotes.
func splitOptions(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
