package plan

import (
	"fmt"
	"strconv"

	"github.com/go-openapi/jsonpointer"
	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// IgnoreRule names fields (by JSON pointer, RFC 6901) of some objects that are
// the cluster's business once the object exists: they are set from Git when the
// object is created, then neither compared nor changed.
type IgnoreRule struct {
	Group, Kind string
	// Namespace and Name narrow the rule; empty matches every object of the kind.
	Namespace, Name string
	Pointers        []string
}

func (r IgnoreRule) matches(k object.Key) bool {
	return r.Group == k.Group && r.Kind == k.Kind &&
		(r.Name == "" || r.Name == k.Name) && (r.Namespace == "" || r.Namespace == k.Namespace)
}

// ValidateIgnoreRules reports the first pointer that does not parse.
func ValidateIgnoreRules(rules []IgnoreRule) error {
	for _, r := range rules {
		for _, p := range r.Pointers {
			if _, err := jsonpointer.New(p); err != nil {
				return fmt.Errorf("ignoreDifferences of %s: %q is not a JSON pointer: %w", r.Kind, p, err)
			}
		}
	}
	return nil
}

// ignoredPointers returns the decoded tokens of every pointer that applies to k.
func ignoredPointers(rules []IgnoreRule, k object.Key) [][]string {
	var out [][]string
	for _, r := range rules {
		if !r.matches(k) {
			continue
		}
		for _, p := range r.Pointers {
			if ptr, err := jsonpointer.New(p); err == nil && len(ptr.DecodedTokens()) > 0 {
				out = append(out, ptr.DecodedTokens())
			}
		}
	}
	return out
}

// RespectIgnored returns desired with every ignored field taken from live, or
// removed when live lacks it, so that applying it leaves those fields as the
// cluster has them. Desired is returned unchanged (not copied) when no rule
// applies; otherwise it is copied, never modified.
func RespectIgnored(desired, live *unstructured.Unstructured, rules []IgnoreRule) *unstructured.Unstructured {
	pointers := ignoredPointers(rules, object.KeyOf(desired))
	if len(pointers) == 0 || live == nil {
		return desired
	}
	out := desired.DeepCopy()
	for _, tokens := range pointers {
		if v, ok := lookup(live.Object, tokens); ok {
			setAt(out.Object, tokens, runtime.DeepCopyJSONValue(v))
		} else {
			removeAt(out.Object, tokens)
		}
	}
	return out
}

// withoutIgnored returns a copy of o without the ignored fields, for comparing.
func withoutIgnored(o *unstructured.Unstructured, pointers [][]string) *unstructured.Unstructured {
	if len(pointers) == 0 || o == nil {
		return o
	}
	c := o.DeepCopy()
	for _, tokens := range pointers {
		removeAt(c.Object, tokens)
	}
	return c
}

func lookup(doc any, tokens []string) (any, bool) {
	cur := doc
	for _, t := range tokens {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[t]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// parentOf returns the container holding the last token, when the path exists.
func parentOf(doc any, tokens []string) (any, bool) {
	return lookup(doc, tokens[:len(tokens)-1])
}

func setAt(doc map[string]any, tokens []string, v any) {
	parent, ok := parentOf(doc, tokens)
	if !ok {
		return // the desired object lacks the path's parents: nothing to keep in line
	}
	last := tokens[len(tokens)-1]
	switch node := parent.(type) {
	case map[string]any:
		node[last] = v
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(node) {
			node[i] = v
		}
	}
}

func removeAt(doc map[string]any, tokens []string) {
	parent, ok := parentOf(doc, tokens)
	if !ok {
		return
	}
	if node, ok := parent.(map[string]any); ok {
		delete(node, tokens[len(tokens)-1])
	}
	// A list item is not removed: that would shift the others. Comparing and
	// applying ignore whole fields, and pointers into lists name fields of items.
}
