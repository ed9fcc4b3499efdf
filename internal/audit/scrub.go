package audit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Redacted replaces a Secret's value found in a message.
const Redacted = "(redacted)"

// MinSecretLen is the shortest Secret value a Scrubber hides: shorter values
// ("1", "true") are too common to find in text without destroying it.
const MinSecretLen = 4

// Scrubber removes the values of Secrets from text that is about to be logged,
// recorded or shown: API server errors may quote a rejected value, and a message
// that reached a record can never be taken back.
type Scrubber struct {
	r *strings.Replacer
}

// NewScrubber hides the values (as written, base64-encoded, and escaped as Go
// and JSON quote them) of the Secrets among objs, and the further secret
// values given (read from Secrets for the render, say).
func NewScrubber(objs []*unstructured.Unstructured, extra ...string) Scrubber {
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= MinSecretLen {
			seen[v] = true
			// A multi-line or quoted value appears escaped in quoted error
			// text: as Go quotes it, and as JSON does (<, > and & too).
			if q := strconv.Quote(v); q[1:len(q)-1] != v {
				seen[q[1:len(q)-1]] = true
			}
			if j, err := json.Marshal(v); err == nil && string(j[1:len(j)-1]) != v {
				seen[string(j[1:len(j)-1])] = true
			}
		}
	}
	for _, v := range extra {
		add(v)
		add(base64.StdEncoding.EncodeToString([]byte(v)))
	}
	for _, o := range objs {
		if !IsSecret(o) {
			continue
		}
		data, _, _ := unstructured.NestedMap(o.Object, "data")
		for _, v := range data {
			s, _ := v.(string)
			add(s)
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				add(string(raw))
			}
		}
		stringData, _, _ := unstructured.NestedMap(o.Object, "stringData")
		for _, v := range stringData {
			s, _ := v.(string)
			add(s)
			add(base64.StdEncoding.EncodeToString([]byte(s)))
		}
	}
	if len(seen) == 0 {
		return Scrubber{}
	}
	values := make([]string, 0, len(seen))
	for v := range seen {
		values = append(values, v)
	}
	// Longest first, so a value that contains another is hidden whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, Redacted)
	}
	return Scrubber{r: strings.NewReplacer(pairs...)}
}

// Scrub returns s with every known Secret value replaced by Redacted.
func (s Scrubber) Scrub(text string) string {
	if s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// ScrubObject returns a copy of a decoded object (maps, slices, strings, ...)
// with every known Secret value hidden in its string values. Keys are kept:
// scrubbing them could merge two into one. Scrubbing the object before it
// is written out catches what scrubbing the text after cannot: YAML writes a
// multi-line value as an indented block, which matches no form of it.
func (s Scrubber) ScrubObject(o map[string]any) map[string]any {
	if o == nil || s.r == nil {
		return o
	}
	return s.scrubValue(o).(map[string]any)
}

func (s Scrubber) scrubValue(v any) any {
	switch t := v.(type) {
	case string:
		return s.Scrub(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = s.scrubValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = s.scrubValue(e)
		}
		return out
	default:
		return v
	}
}

// LeafStrings are the values at the leaves of decoded YAML or JSON, as
// strings: the secret values of a Secret that holds a values file (Helm's
// valuesFrom), each to be hidden on its own.
func LeafStrings(v any) []string {
	switch v := v.(type) {
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, LeafStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, LeafStrings(e)...)
		}
		return out
	case nil:
		return nil
	case string:
		return []string{v}
	}
	return []string{fmt.Sprint(v)}
}
