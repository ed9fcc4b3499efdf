package sops_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	sopslib "github.com/getsops/sops/v3"
	sopsaes "github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"

	"github.com/lockstep-dev/lockstep/internal/render/sops"
	"github.com/lockstep-dev/lockstep/internal/testenv/sopsfile"
)

func key(t *testing.T) (sopsfile.Key, []age.Identity) {
	t.Helper()
	k, err := sopsfile.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := sops.ParseIdentities("# a comment\n\n" + k.Identity + "\n")
	if err != nil {
		t.Fatal(err)
	}
	return k, ids
}

// asData reads YAML (every document) into plain Go values, for comparing.
func asData(t *testing.T, data []byte) []any {
	t.Helper()
	var out []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			break
		}
		out = append(out, v)
	}
	return out
}

const mixed = `# the team's settings
apiVersion: v1
kind: Secret
metadata:
  name: db # inline
  labels: {tier: backend}
stringData:
  password: s3cr3t-horse-battery
  multi: |
    line one
    line two
  empty: ""
  host: "5432"
settings:
  port: 5432
  ratio: 0.25
  big: 1e3
  enabled: true
  disabled: False
  hosts: [a.internal, b.internal]
  nested: {deep: {value: x}}
  nothing: null
`

// Files the SOPS library encrypts, this reader decrypts to the same data, with
// every value's type, and reports the values of data and stringData.
func TestDecryptsWhatTheLibraryEncrypts(t *testing.T) {
	k, ids := key(t)
	for _, tc := range []struct {
		name, plain, regex string
		secrets            []string
	}{
		{"everything.yaml", mixed, "", []string{"s3cr3t-horse-battery", "line one\nline two\n", "5432"}},
		{"values.yaml", mixed, "^(data|stringData|settings)$", []string{"s3cr3t-horse-battery", "line one\nline two\n", "5432"}},
		{"metadata-only.yaml", mixed, "^metadata$", nil},
		{"two.yaml", "a: 1\nb: [x, y]\n---\nkind: Secret\ndata: {k: dmFsdWU=}\n", "", []string{"dmFsdWU="}},
		{"secret.json", `{"kind": "Secret", "data": {"k": "dmFsdWU=", "n": "7"}, "list": [1.5, true, "s", 7]}`, "", []string{"dmFsdWU=", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := sopsfile.Encrypt(tc.name, []byte(tc.plain), k.Recipient, tc.regex)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := sops.Decrypt(enc, ids)
			if err != nil || !ok {
				t.Fatalf("Decrypt: ok %v, %v\n%s", ok, err, enc)
			}
			lib, err := libraryDecrypt(tc.name, enc, k.Identity)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(asData(t, lib), asData(t, got.Plain)); diff != "" {
				t.Errorf("decrypted data (-library +ours):\n%s", diff)
			}
			if diff := cmp.Diff(tc.secrets, got.Secrets); diff != "" && tc.regex != "^metadata$" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if bytes.Contains(got.Plain, []byte("ENC[")) || bytes.Contains(got.Plain, []byte("sops:")) {
				t.Errorf("ciphertext or metadata left:\n%s", got.Plain)
			}
			if !sops.IsEncrypted(enc) {
				t.Error("IsEncrypted is false for a SOPS file")
			}
		})
	}
}

func TestPlainFilesPassThrough(t *testing.T) {
	_, ids := key(t)
	for _, plain := range []string{"a: b\n", "kind: ConfigMap\ndata: {sops: not metadata}\n", ""} {
		got, ok, err := sops.Decrypt([]byte(plain), ids)
		if err != nil || ok || string(got.Plain) != plain || sops.IsEncrypted([]byte(plain)) {
			t.Errorf("%q: ok %v, err %v, plain %q", plain, ok, err, got.Plain)
		}
	}
}

// A file changed after encryption is refused, whatever was changed; so is one
// the keys do not open. No error holds a value.
func TestTamperedAndForeignFilesAreRefused(t *testing.T) {
	k, ids := key(t)
	enc, err := sopsfile.Encrypt("s.yaml", []byte("kind: Secret\nmetadata: {name: db}\nstringData: {password: s3cr3t-horse-battery, user: admin}\n"), k.Recipient, "^(data|stringData)$")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(enc)
	encOf := func(field string) string {
		i := strings.Index(doc, field+": ENC[")
		j := strings.Index(doc[i:], "]")
		return doc[i+len(field)+2 : i+j+1]
	}
	_, other := key(t)
	for name, tc := range map[string]struct {
		data string
		ids  []age.Identity
		want string
	}{
		"an unencrypted value changed":     {strings.Replace(doc, "name: db", "name: dc", 1), ids, "MAC does not match"},
		"two values swapped":               {strings.NewReplacer(encOf("password"), encOf("user"), encOf("user"), encOf("password")).Replace(doc), ids, "decrypting the value at stringData.password failed"},
		"a value removed":                  {strings.Replace(doc, "user: "+encOf("user"), "user: \"\"", 1), ids, "MAC does not match"},
		"the MAC removed":                  {regexpReplace(doc, `mac: ENC\[[^\]]*\]`, `mac: ""`), ids, "no mac"},
		"lastmodified changed":             {regexpReplace(doc, `lastmodified: "[^"]*"`, `lastmodified: "2001-01-01T00:00:00Z"`), ids, "MAC does not match"},
		"another key":                      {doc, other, "no configured age key decrypts the SOPS file (recipients " + k.Recipient + ")"},
		"no key at all":                    {doc, nil, "no age key is configured"},
		"ciphertext without metadata":      {"password: " + encOf("password") + "\n", ids, "no sops metadata"},
		"a damaged value":                  {strings.Replace(doc, encOf("password"), "ENC[AES256_GCM,data:!!!,iv:x,tag:y,type:str]", 1), ids, "decrypting the value at stringData.password failed"},
		"an alias (a billion laughs, say)": {"a: &x [1, 2]\nb: *x\n" + doc[strings.Index(doc, "sops:"):], ids, "YAML alias"},
		"split key groups":                 {strings.Replace(doc, "sops:\n", "sops:\n    shamir_threshold: 2\n", 1), ids, "shamir_threshold 2"},
		"not YAML":                         {"sops: [\n", ids, "reading the SOPS file"},
		"a KMS-only file":                  {"password: x\nsops:\n    kms: [{arn: arn:aws:kms:x}]\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]\n", ids, "only age keys are supported"},
	} {
		_, _, err := sops.Decrypt([]byte(tc.data), tc.ids)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "AGE-SECRET-KEY")) {
			t.Errorf("%s: the error holds a secret: %v", name, err)
		}
	}
}

// The reverse: a file encrypted here, by the format's rules (data key to age,
// each value AES-256-GCM with its path, the MAC over every value), is one the
// SOPS library decrypts, so the two agree on the format, not only on files the
// library wrote.
func TestTheLibraryDecryptsWhatTheFormatSays(t *testing.T) {
	k, ids := key(t)
	enc := encryptByTheFormat(t, mixed, k.Recipient)
	lib, err := libraryDecrypt("mixed.yaml", enc, k.Identity)
	if err != nil {
		t.Fatalf("the library refused a file written by the format: %v\n%s", err, enc)
	}
	ours, _, err := sops.Decrypt(enc, ids)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(asData(t, lib), asData(t, ours.Plain)); diff != "" {
		t.Errorf("decrypted (-library +ours):\n%s", diff)
	}
	if got := asData(t, lib)[0].(map[string]any)["stringData"].(map[string]any)["password"]; got != "s3cr3t-horse-battery" {
		t.Errorf("the library decrypted password %v", got)
	}
}

// encryptByTheFormat encrypts every value of a one-document YAML file as the
// SOPS format says, without the library.
func encryptByTheFormat(t *testing.T, plain, recipient string) []byte {
	t.Helper()
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	doc := &yaml.Node{}
	if err := yaml.Unmarshal([]byte(plain), doc); err != nil {
		t.Fatal(err)
	}
	mac := sha512.New()
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		n.HeadComment, n.LineComment, n.FootComment = "", "", ""
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				n.Content[i].HeadComment, n.Content[i].LineComment = "", ""
				walk(n.Content[i+1], append(path[:len(path):len(path)], n.Content[i].Value))
			}
		case yaml.ScalarNode:
			var v any
			if err := n.Decode(&v); err != nil || v == nil {
				return
			}
			text, typ := "", ""
			switch v := v.(type) {
			case string:
				text, typ = v, "str"
			case int:
				text, typ = strconv.Itoa(v), "int"
			case float64:
				text, typ = strconv.FormatFloat(v, 'f', -1, 64), "float"
			case bool:
				text, typ = map[bool]string{true: "True", false: "False"}[v], "bool"
			default:
				t.Fatalf("unexpected %T", v)
			}
			mac.Write([]byte(text))
			if text == "" {
				return // SOPS keeps empty strings as they are
			}
			n.Tag, n.Style, n.Value = "!!str", 0, encryptValue(t, dataKey, text, typ, strings.Join(path, ":")+":")
		}
	}
	walk(doc, nil)
	var armored bytes.Buffer
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	aw := armor.NewWriter(&armored)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(dataKey)
	_ = w.Close()
	_ = aw.Close()
	modified := time.Now().UTC().Format(time.RFC3339)
	meta := map[string]any{
		"age":          []map[string]string{{"recipient": recipient, "enc": armored.String()}},
		"lastmodified": modified,
		"mac":          encryptValue(t, dataKey, fmt.Sprintf("%X", mac.Sum(nil)), "str", modified),
		"version":      "3.13.3",
	}
	metaNode := &yaml.Node{}
	if err := metaNode.Encode(meta); err != nil {
		t.Fatal(err)
	}
	top := doc.Content[0]
	top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "sops"}, metaNode)
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func encryptValue(t *testing.T, key []byte, text, typ, aad string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, 32)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, 32)
	if _, err := rand.Read(iv); err != nil {
		t.Fatal(err)
	}
	sealed := gcm.Seal(nil, iv, []byte(text), []byte(aad))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]", b64(sealed[:len(sealed)-16]), b64(iv), b64(sealed[len(sealed)-16:]), typ)
}

func regexpReplace(s, pattern, with string) string {
	return regexp.MustCompile(pattern).ReplaceAllLiteralString(s, with)
}

// libraryDecrypt decrypts a YAML file with the SOPS library, checking its MAC
// as `sops --decrypt` does.
func libraryDecrypt(name string, enc []byte, identity string) ([]byte, error) {
	var store interface {
		LoadEncryptedFile([]byte) (sopslib.Tree, error)
		EmitPlainFile(sopslib.TreeBranches) ([]byte, error)
	} = sopsyaml.NewStore(&sopsconfig.YAMLStoreConfig{})
	if strings.HasSuffix(name, ".json") {
		store = sopsjson.NewStore(&sopsconfig.JSONStoreConfig{})
	}
	tree, err := store.LoadEncryptedFile(enc)
	if err != nil {
		return nil, err
	}
	var ids sopsage.ParsedIdentities
	if err := ids.Import(identity); err != nil {
		return nil, err
	}
	var dataKey []byte
	for _, group := range tree.Metadata.KeyGroups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				ids.ApplyToMasterKey(ak)
				if dataKey, err = ak.Decrypt(); err == nil {
					break
				}
			}
		}
	}
	if dataKey == nil {
		return nil, fmt.Errorf("no data key: %v", err)
	}
	cipher := sopsaes.NewCipher()
	mac, err := tree.Decrypt(dataKey, cipher)
	if err != nil {
		return nil, err
	}
	fileMAC, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || fileMAC != mac {
		return nil, fmt.Errorf("MAC mismatch: %v", err)
	}
	return store.EmitPlainFile(tree.Branches)
}

// What a reviewer found, each a way to move, blank, retype or leak an
// encrypted value without the key, or to stall the controller.
func TestHostileEditsOfAnEncryptedFile(t *testing.T) {
	k, ids := key(t)
	const plain = "kind: Secret\nmetadata: {name: db, note: \"on\"}\nstringData: {password: s3cr3t-horse-battery, user: admin}\n"
	enc, err := sopsfile.Encrypt("s.yaml", []byte(plain), k.Recipient, "^(data|stringData)$")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(enc)
	pw := regexp.MustCompile(`password: (ENC\[[^\]]*\])`).FindStringSubmatch(doc)[1]
	for name, tc := range map[string]struct{ data, want string }{
		"the type flipped so the conversion fails": {strings.Replace(doc, pw, strings.Replace(pw, "type:str]", "type:int]", 1), 1), "a Secret's values are strings"},
		"a key with a colon carrying the path":     {strings.Replace(doc, "stringData:", "stringData:password: "+pw+"\nx:", 1), "holds a ':'"},
		"a duplicate key (the last would win)":     {strings.Replace(doc, "kind: Secret", "kind: Secret\nstringData: {}", 1), "appears twice"},
		"a blank in stringData over data":          {strings.Replace(doc, "kind: Secret", "kind: Secret\ndata: {password: \"\"}", 1), "in both data and stringData"},
		"a plain value where the rules encrypt":    {strings.Replace(doc, "user: ENC[", "user2: admin\n    user: ENC[", 1), "not encrypted, but the file's rules say it is"},
		"ciphertext where the rules say plain":     {strings.Replace(doc, "name: db", "name: "+pw, 1), "encrypted where the file's rules say values are plain"},
		"mac_only_encrypted":                       {strings.Replace(doc, "sops:\n", "sops:\n    mac_only_encrypted: true\n", 1), "mac_only_encrypted are refused"},
		"an alias in the metadata":                 {strings.Replace(doc, "sops:\n", "sops:\n    x: &a [1]\n    y: *a\n", 1), "YAML alias"},
		"too many recipients":                      {strings.Replace(doc, "    age:\n", "    age:\n"+strings.Repeat("        - recipient: age1x\n          enc: x\n", 65), 1), "more than 64 age recipients"},
		"comment-driven rules":                     {strings.Replace(doc, "sops:\n", "sops:\n    encrypted_comment_regex: sops:enc\n", 1), "follows comments"},
	} {
		_, _, err := sops.Decrypt([]byte(tc.data), ids)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error holds the secret: %v", name, err)
		}
	}
	// The untouched file still decrypts, and its plain values are written so
	// that a YAML 1.1 reader reads them as they were counted: "on" stays a string.
	got, _, err := sops.Decrypt(enc, ids)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := sigsyaml.Unmarshal(got.Plain, &obj); err != nil {
		t.Fatal(err)
	}
	if note := obj["metadata"].(map[string]any)["note"]; note != "on" {
		t.Errorf("metadata.note read back as %#v, want the string \"on\"\n%s", note, got.Plain)
	}
}
