package render

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Decrypted values may only reach the cluster as the values of the Secrets in
// their own encrypted file: a Secret's values are hidden from diffs, events and
// the ledger, any other kind's are shown to everyone. Kustomize can copy a value
// elsewhere (replacements, generators, patches), so after the render every other
// object is searched for them.

// minSearchedLen is the shortest decrypted value searched for in other objects:
// shorter ones ("5432", "true") would be found everywhere.
const minSearchedLen = 6

// minScrubbedLen is the shortest decrypted value removed from error messages.
const minScrubbedLen = 4

// markEncrypted sets Origins[i].Encrypted for the Secrets whose every value was
// ciphertext in the file they came from, and refuses decrypted files that hold
// other kinds and objects that carry a decrypted value anywhere else.
func (r *reader) markEncrypted(objs []*unstructured.Unstructured, origins []Origin) error {
	if len(r.decrypted) == 0 {
		return nil
	}
	var searched []decryptedValue
	for file, values := range r.decrypted {
		for _, v := range values {
			if len(v) >= minSearchedLen {
				searched = append(searched, decryptedValue{file: file, value: v})
			}
		}
	}
	for i, o := range objs {
		values, fromDecrypted := r.decrypted[origins[i].File]
		secret := o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
		if fromDecrypted && !secret {
			return &Error{File: origins[i].File, Err: fmt.Errorf("%s: SOPS-encrypted files may hold Secrets only (other kinds' values are shown in diffs and the ledger)", identity(o))}
		}
		if secret {
			origins[i].Encrypted = fromDecrypted && allValuesAmong(o, values)
			continue
		}
		if field, file := findDecrypted(o.Object, "", searched); field != "" {
			return &Error{File: origins[i].File, Err: fmt.Errorf("%s: %s holds a value decrypted from %s; decrypted values may only be used by the Secrets in their own file", identity(o), field, file)}
		}
	}
	return nil
}

type decryptedValue struct{ file, value string }

// allValuesAmong reports whether every data and stringData value of a Secret
// is one of values: a Secret whose values were plain text in Git (a file
// encrypted with a regex that matched nothing, a generator claiming another
// file's origin) is not an encrypted one.
func allValuesAmong(secret *unstructured.Unstructured, values []string) bool {
	set := make(map[string]bool, len(values))
	for _, v := range values {
		set[v] = true
	}
	for _, field := range []string{"data", "stringData"} {
		m, _, _ := unstructured.NestedMap(secret.Object, field)
		for _, v := range m {
			if s, ok := v.(string); !ok || !set[s] {
				return false
			}
		}
	}
	return true
}

// findDecrypted returns the field path of the first string (key or value) in
// v that contains a decrypted value, and that value's file.
func findDecrypted(v any, path string, searched []decryptedValue) (field, file string) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			if f := containsDecrypted(k, searched); f != "" {
				return p, f
			}
			if field, file := findDecrypted(v[k], p, searched); field != "" {
				return field, file
			}
		}
	case []any:
		for i, e := range v {
			if field, file := findDecrypted(e, fmt.Sprintf("%s[%d]", path, i), searched); field != "" {
				return field, file
			}
		}
	case string:
		if f := containsDecrypted(v, searched); f != "" {
			return path, f
		}
	}
	return "", ""
}

func containsDecrypted(s string, searched []decryptedValue) string {
	for _, d := range searched {
		if strings.Contains(s, d.value) {
			return d.file
		}
	}
	return ""
}

// scrub removes decrypted values from a render error: a renderer may quote the
// document it could not read. The result keeps the sentinel errors callers
// test for, and nothing else of the original.
func (r *reader) scrub(err error) error {
	if err == nil || len(r.decrypted) == 0 {
		return err
	}
	var values []string
	for _, vs := range r.decrypted {
		for _, v := range vs {
			values = append(values, v)
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				values = append(values, string(raw))
			}
		}
	}
	// Longest first, so a value containing another is removed whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	msg := err.Error()
	for _, v := range values {
		if len(v) >= minScrubbedLen {
			msg = strings.ReplaceAll(msg, v, "***")
		}
	}
	s := &scrubbedError{msg: msg}
	for _, sentinel := range []error{ErrLimit, ErrNoDecryptionKey, ErrDecryptionNotHere} {
		if errors.Is(err, sentinel) {
			s.err = sentinel
		}
	}
	return s
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
