package engine

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/render/sops"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// Decrypted values may only reach the cluster as the values of the Secrets in
// their own encrypted file: a Secret's values are hidden from diffs, events and
// the ledger, any other kind's are shown to everyone. Kustomize can copy a value
// elsewhere (replacements, generators), so after the render every other object,
// and every other field of a Secret, is searched for them.

// minSearchedLen is the shortest decrypted value searched for in other objects:
// shorter ones ("5432", "true") would be found everywhere. A value of at least
// minEmbeddedLen is also found inside a longer string (a connection URL);
// shorter ones only as a whole string ("postgres" is not found in
// "postgres:16").
const (
	minSearchedLen = 6
	minEmbeddedLen = 12
)

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
		searchIn := o.Object
		if secret {
			origins[i].Encrypted = fromDecrypted && allValuesAmong(o, values)
			searchIn = withoutValues(o.Object)
		}
		if field, file := findDecrypted(searchIn, "", searched); field != "" {
			// Scrubbed: the object's own name could be the value.
			return r.scrub(&Error{File: origins[i].File, Err: fmt.Errorf("%s: %s holds a value decrypted from %s; decrypted values may only be used as the values of the Secrets in their own file", identity(o), field, file)})
		}
	}
	return nil
}

// withoutValues is a Secret without its data and stringData, which may hold
// decrypted values; labels and annotations may not (diffs show them).
func withoutValues(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "data" && k != "stringData" {
			out[k] = v
		}
	}
	return out
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
			// SOPS leaves empty values as they are: nothing to hide.
			if s, ok := v.(string); !ok || (s != "" && !set[s]) {
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
		if s == d.value || (len(d.value) >= minEmbeddedLen && strings.Contains(s, d.value)) {
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
	add := func(v string) {
		// As written, as Go and JSON quote it, and line by line (a library
		// may print a multi-line value indented).
		values = append(values, v)
		if q := strconv.Quote(v); q[1:len(q)-1] != v {
			values = append(values, q[1:len(q)-1])
		}
		if j, err := json.Marshal(v); err == nil && string(j[1:len(j)-1]) != v {
			values = append(values, string(j[1:len(j)-1]))
		}
		if strings.Contains(v, "\n") {
			for _, line := range strings.Split(v, "\n") {
				values = append(values, strings.TrimSpace(line))
			}
		}
	}
	for _, vs := range r.decrypted {
		for _, v := range vs {
			add(v)
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				add(string(raw))
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

// checkKustomizeCopies refuses the Kustomize features that copy values out of
// the Secrets they belong to, when decryption keys are configured: a
// ConfigMap generator reading a SOPS file (a multi-line value, re-emitted, is
// not found by a search), and a replacement from a Secret, or from an object of
// any kind, into another kind (it can copy a value in pieces).
func checkKustomizeCopies(r *reader, dir, file string, k *types.Kustomization) error {
	if len(r.identities) == 0 {
		return nil
	}
	for _, g := range configMapArgs(k) {
		sources := append(append([]string{g.EnvSource}, g.EnvSources...), g.FileSources...)
		for _, src := range sources {
			if _, p, ok := strings.Cut(src, "="); ok {
				src = p
			}
			if src == "" {
				continue
			}
			if data, err := r.readRaw(path.Join(dir, src)); err == nil && isSOPSFile(src, data) {
				return &Error{File: file, Err: fmt.Errorf("configMapGenerator %s reads the SOPS-encrypted %s: its decrypted values would be shown in diffs and the ledger (use a secretGenerator)", g.Name, src)}
			}
		}
	}
	//lint:ignore SA1019 vars are deprecated, not gone: Kustomize still applies them
	for _, v := range k.Vars {
		// A var copies any field of the object it names into any other object.
		if v.ObjRef.Kind == "" || v.ObjRef.Kind == "Secret" {
			return &Error{File: file, Err: fmt.Errorf("var %s reads from %s, which could show a decrypted value elsewhere; name the source's kind (not a Secret)", v.Name, cmp.Or(v.ObjRef.Kind, "an object of any kind"))}
		}
	}
	reps := replacementsOf(r, dir, k.Replacements)
	// Replacements also come as ReplacementTransformer configurations listed
	// under transformers: the same rule holds for them.
	for _, t := range k.Transformers {
		data := []byte(t)
		if !strings.Contains(t, "\n") {
			raw, err := r.readRaw(path.Join(dir, t))
			if err != nil {
				continue // Kustomize reports it
			}
			data = raw
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			var cfg struct {
				Kind         string                   `json:"kind"`
				Replacements []types.ReplacementField `json:"replacements"`
			}
			if yaml.Unmarshal([]byte(doc), &cfg) == nil && cfg.Kind == "ReplacementTransformer" {
				reps = append(reps, replacementsOf(r, dir, cfg.Replacements)...)
			}
		}
	}
	for _, rep := range reps {
		if rep.Source == nil || (rep.Source.Kind != "" && rep.Source.Kind != "Secret") {
			continue
		}
		for _, t := range rep.Targets {
			if t == nil || t.Select == nil || t.Select.Kind != "Secret" {
				return &Error{File: file, Err: fmt.Errorf("a replacement copies from %s into another kind, which could show a decrypted value; name the source's kind (not a Secret), or copy only into Secrets", cmp.Or(rep.Source.Kind, "an object of any kind"))}
			}
		}
	}
	return nil
}

// replacementsOf reads replacements given inline or by path.
func replacementsOf(r *reader, dir string, fields []types.ReplacementField) []types.Replacement {
	var reps []types.Replacement
	for _, rf := range fields {
		if rf.Path == "" {
			reps = append(reps, rf.Replacement)
			continue
		}
		data, err := r.readRaw(path.Join(dir, rf.Path))
		if err != nil {
			continue // Kustomize reports it
		}
		var list []types.Replacement
		if yaml.Unmarshal(data, &list) != nil {
			var one types.Replacement
			if yaml.Unmarshal(data, &one) == nil {
				list = []types.Replacement{one}
			}
		}
		reps = append(reps, list...)
	}
	return reps
}

// isSOPSFile reports whether a file is a SOPS file: it parses as one, with
// metadata.
func isSOPSFile(name string, data []byte) bool {
	return sopsFormat(name) && sops.IsEncrypted(data)
}
