// Package sops reads SOPS-encrypted YAML and JSON files with age keys, and
// nothing else: the SOPS format as `sops --encrypt --age` writes it (a data key
// encrypted to age recipients; each value AES-256-GCM with its path as
// additional data; a MAC over every value, encrypted with the data key). No
// KMS, no key service, no PGP, no environment, no files: what a controller
// inside a closed perimeter needs, without the cloud SDKs the SOPS library
// brings (its weight is measured in BENCHMARKS.md). The library itself is kept
// for tests only, which encrypt with it and decrypt with this reader and the
// reverse.
package sops

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/armor"
	"go.yaml.in/yaml/v3"
)

// ErrNoMetadata is returned for a file with encrypted values but no sops
// metadata: applying ciphertext as values would be wrong, and silent.
var ErrNoMetadata = errors.New("holds SOPS-encrypted values but no sops metadata")

// Decrypted is what Decrypt returns.
type Decrypted struct {
	// Plain is the file without its sops metadata, every value decrypted, as
	// YAML (a JSON file too: YAML is the renderers' common tongue).
	Plain []byte
	// Secrets are the decrypted values under a document's data or stringData
	// (a Secret's values), to find them should they reappear elsewhere.
	Secrets []string
}

// IsEncrypted reports whether data is a SOPS file: it parses, and its first
// document has sops metadata.
func IsEncrypted(data []byte) bool {
	if !looksEncrypted(data) {
		return false
	}
	docs, err := parse(data)
	return err == nil && len(docs) > 0 && metadataNode(docs[0]) != nil
}

// looksEncrypted is a cheap test before a full parse: SOPS files carry
// encrypted values or a top-level sops key.
func looksEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte(encPrefix)) || sopsKey.Match(data)
}

const encPrefix = "ENC[AES256_GCM,"

var sopsKey = regexp.MustCompile(`(?m)^(sops:|\s*"sops"\s*:)`)

// Decrypt decrypts a SOPS file with the first of ids that opens its data key
// and checks its MAC, so a file changed after encryption (a value removed,
// swapped or edited, encrypted or not) is refused. ok is false, with data
// returned as it is, for a file that is not SOPS-encrypted. Errors never hold
// a value or a key.
func Decrypt(data []byte, ids []age.Identity) (out Decrypted, ok bool, err error) {
	if !looksEncrypted(data) {
		return Decrypted{Plain: data}, false, nil
	}
	docs, err := parse(data)
	if err != nil {
		return Decrypted{}, true, fmt.Errorf("reading the SOPS file: %w", err)
	}
	var meta *yaml.Node
	if len(docs) > 0 {
		meta = metadataNode(docs[0])
	}
	if meta == nil {
		if bytes.Contains(data, []byte(encPrefix)) {
			return Decrypted{}, true, ErrNoMetadata
		}
		return Decrypted{Plain: data}, false, nil
	}
	m, err := readMetadata(meta)
	if err != nil {
		return Decrypted{}, true, err
	}
	if len(ids) == 0 {
		return Decrypted{}, true, ErrNoIdentity
	}
	key, err := m.dataKey(ids)
	if err != nil {
		return Decrypted{}, true, err
	}
	rules, err := m.rules()
	if err != nil {
		return Decrypted{}, true, err
	}
	d := &decrypter{key: key, mac: sha512.New(), rules: rules}
	for _, doc := range docs {
		removeMetadata(doc)
		if err := d.walk(doc, nil, false); err != nil {
			return Decrypted{}, true, err
		}
	}
	if err := m.checkMAC(key, fmt.Sprintf("%X", d.mac.Sum(nil))); err != nil {
		return Decrypted{}, true, err
	}
	var plain bytes.Buffer
	for i, doc := range docs {
		if i > 0 {
			plain.WriteString("---\n")
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return Decrypted{}, true, errors.New("writing the decrypted SOPS file failed")
		}
		plain.Write(b)
	}
	return Decrypted{Plain: plain.Bytes(), Secrets: d.secrets}, true, nil
}

// parse reads every YAML document (JSON is YAML) as a node tree.
func parse(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// topMapping is a document's top-level mapping, nil when it has none.
func topMapping(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		return doc.Content[0]
	}
	return nil
}

// metadataNode is the document's top-level sops mapping, nil when it has none.
func metadataNode(doc *yaml.Node) *yaml.Node {
	top := topMapping(doc)
	if top == nil {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "sops" && top.Content[i+1].Kind == yaml.MappingNode {
			return top.Content[i+1]
		}
	}
	return nil
}

// removeMetadata drops the sops key of a document, as SOPS does of every one.
func removeMetadata(doc *yaml.Node) {
	top := topMapping(doc)
	if top == nil {
		return
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "sops" {
			top.Content = append(top.Content[:i], top.Content[i+2:]...)
			return
		}
	}
}

// decrypter walks a document in SOPS's order: decrypting each encrypted value
// with its path as additional data, hashing every value for the MAC.
type decrypter struct {
	key     []byte
	mac     hash.Hash
	rules   rules
	secrets []string
}

func (d *decrypter) walk(n *yaml.Node, path []string, secret bool) error {
	// Comments may hold encrypted comments; they are in no object and no MAC.
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := d.walk(c, path, secret); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			k.HeadComment, k.LineComment, k.FootComment = "", "", ""
			if err := checkKey(k, path, seen); err != nil {
				return err
			}
			inSecret := secret || (len(path) == 0 && (k.Value == "data" || k.Value == "stringData"))
			if err := d.walk(v, append(path[:len(path):len(path)], k.Value), inSecret); err != nil {
				return err
			}
		}
		if len(path) == 0 {
			return checkDataAndStringData(n)
		}
	case yaml.ScalarNode:
		return d.scalar(n, path, secret)
	case yaml.AliasNode:
		return fmt.Errorf("%s is a YAML alias; SOPS files with aliases are not supported", pathString(path))
	}
	return nil
}

// checkKey refuses what would let a value move without breaking its
// encryption: a key that is not a plain string, a key twice in one mapping
// (the last would win downstream), and a key with a ':', since a value's path
// is bound to it joined by ':' ("data:password" would pass for data.password).
func checkKey(k *yaml.Node, path []string, seen map[string]bool) error {
	switch {
	case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
		return fmt.Errorf("a key at %s is not a string; SOPS files have string keys only", pathString(path))
	case strings.Contains(k.Value, ":"):
		return fmt.Errorf("the key %q at %s holds a ':'; refused in SOPS files (a value's path is joined by ':')", truncate(k.Value, 64), pathString(path))
	case seen[k.Value]:
		return fmt.Errorf("the key %q appears twice at %s", truncate(k.Value, 64), pathString(path))
	}
	seen[k.Value] = true
	return nil
}

// checkDataAndStringData refuses a Secret key in both data and stringData: the
// API server lets stringData win, so an empty string added there (which no MAC
// counts) would blank an encrypted value.
func checkDataAndStringData(top *yaml.Node) error {
	keys := func(name string) map[string]bool {
		out := map[string]bool{}
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == name && top.Content[i+1].Kind == yaml.MappingNode {
				m := top.Content[i+1]
				for j := 0; j+1 < len(m.Content); j += 2 {
					out[m.Content[j].Value] = true
				}
			}
		}
		return out
	}
	data := keys("data")
	for k := range keys("stringData") {
		if data[k] {
			return fmt.Errorf("the key %q is in both data and stringData; refused in SOPS files", truncate(k, 64))
		}
	}
	return nil
}

func (d *decrypter) scalar(n *yaml.Node, path []string, secret bool) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("the value at %s cannot be read", pathString(path))
	}
	s, isString := v.(string)
	isENC := isString && strings.HasPrefix(s, encPrefix)
	encrypted := d.rules.encrypted(path)
	switch {
	case v == nil:
		return nil // SOPS neither encrypts nor counts a null
	case encrypted && isENC:
		return d.decrypt(n, s, path, secret)
	case encrypted && s == "" && isString:
		return nil // SOPS keeps empty strings as they are; the MAC counts nothing
	case encrypted:
		return fmt.Errorf("the value at %s is not encrypted, but the file's rules say it is", pathString(path))
	case isENC:
		return fmt.Errorf("the value at %s is encrypted where the file's rules say values are plain", pathString(path))
	}
	b, err := macBytes(v)
	if err != nil {
		return fmt.Errorf("the value at %s: %w", pathString(path), err)
	}
	d.mac.Write(b)
	// Written again from what the MAC counted, so a YAML 1.1 reader
	// downstream reads the same value (on, 1:20 and the like).
	if err := n.Encode(v); err != nil {
		return fmt.Errorf("the value at %s cannot be written", pathString(path))
	}
	return nil
}

// decrypt opens one encrypted value in place. Its type is not authenticated by
// the format: a Secret's value must be a string, and a value that is not what
// its type says is refused without quoting it.
func (d *decrypter) decrypt(n *yaml.Node, enc string, path []string, secret bool) error {
	text, typ, err := decryptValue(enc, d.key, strings.Join(path, ":")+":")
	if err != nil {
		return fmt.Errorf("decrypting the value at %s failed (it is damaged, or was moved from another place)", pathString(path))
	}
	if secret && typ != "str" {
		return fmt.Errorf("the value at %s is recorded as %q; a Secret's values are strings", pathString(path), truncate(typ, 16))
	}
	if typ == "str" && !utf8.ValidString(text) {
		return fmt.Errorf("the value at %s is not UTF-8 text", pathString(path))
	}
	v, err := typedValue(text, typ)
	if err != nil {
		return fmt.Errorf("the value at %s does not match its recorded type %q", pathString(path), truncate(typ, 16))
	}
	b, err := macBytes(v)
	if err != nil {
		return fmt.Errorf("the value at %s has a type SOPS files do not hold", pathString(path))
	}
	d.mac.Write(b)
	if err := n.Encode(v); err != nil {
		return fmt.Errorf("the value at %s cannot be written", pathString(path))
	}
	if secret {
		d.secrets = append(d.secrets, text)
	}
	return nil
}

// typedValue is a decrypted value as the type SOPS recorded for it.
func typedValue(text, typ string) (any, error) {
	switch typ {
	case "str":
		return text, nil
	case "int":
		return strconv.Atoi(text)
	case "float":
		return strconv.ParseFloat(text, 64)
	case "bool":
		return strconv.ParseBool(text)
	case "time":
		var t time.Time
		err := t.UnmarshalText([]byte(text))
		return t, err
	}
	return nil, fmt.Errorf("SOPS value type %q is not supported", typ)
}

// macBytes is how SOPS counts an unencrypted value in the MAC.
func macBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		return []byte(boolBytes(v)), nil
	case time.Time:
		return v.MarshalText()
	}
	return nil, fmt.Errorf("a %T value is not supported in SOPS files", v)
}

func boolBytes(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

var encValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// decryptValue opens one ENC[AES256_GCM,...] value; aad is its path.
func decryptValue(value string, key []byte, aad string) (text, typ string, err error) {
	m := encValue.FindStringSubmatch(value)
	if m == nil {
		return "", "", errors.New("not a SOPS value")
	}
	var parts [3][]byte
	for i := range parts {
		if parts[i], err = base64.StdEncoding.DecodeString(m[i+1]); err != nil {
			return "", "", err
		}
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", "", err
	}
	if len(iv) == 0 || len(tag) != 16 {
		return "", "", errors.New("bad nonce or tag")
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return "", "", err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return "", "", err
	}
	return string(plain), m[4], nil
}

func pathString(path []string) string {
	if len(path) == 0 {
		return "the top"
	}
	return truncate(strings.Join(path, "."), 256)
}

// truncate cuts s to at most n bytes, on a character boundary, marking a cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ParseIdentities reads age identities (AGE-SECRET-KEY-1... lines; blank lines
// and # comments are skipped). The error never holds key material.
func ParseIdentities(text string) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil, errors.New("not a valid age identity (want AGE-SECRET-KEY-1... lines)")
	}
	return ids, nil
}

// maxArmoredKey bounds one recipient's encrypted data key: one stanza is
// about 400 bytes armored; this allows a few dozen.
const maxArmoredKey = 16 << 10

// ErrNoIdentity is returned for a SOPS file when no age key was given.
var ErrNoIdentity = errors.New("the file is SOPS-encrypted and no age key is configured")

// readArmored decrypts an armored age file with ids. Each age stanza costs a
// key exchange per identity: the size of enc bounds the work a file can ask for.
func readArmored(enc string, ids []age.Identity) ([]byte, error) {
	if len(enc) > maxArmoredKey {
		return nil, errors.New("the encrypted data key is too large")
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, 1024))
}
