package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The keys of the RBAC ConfigMap, named as in Argo CD's argocd-rbac-cm.
const (
	// KeyPolicy holds the policy lines.
	KeyPolicy = "policy.csv"
	// KeyDefault names the role every authenticated caller holds; empty or
	// absent means none.
	KeyDefault = "policy.default"
	// KeyScopes lists the OIDC claims whose values are groups, in Argo CD's
	// syntax: [groups, email]. Absent means [groups].
	KeyScopes = "scopes"
	// KeyMatchMode is Argo CD's choice between glob and regex matching. Only
	// glob is supported; regex is refused rather than read as globs, which
	// would match other things than its author meant.
	KeyMatchMode = "policy.matchMode"
)

// Limits on the ConfigMap, so a mistaken or hostile edit cannot make every
// reload slow. Kubernetes caps a ConfigMap at 1 MiB anyway.
const (
	// MaxPolicyBytes bounds the policy files together.
	MaxPolicyBytes = 1 << 20
	// MaxPolicyLines bounds their lines, comments and blank lines included.
	MaxPolicyLines = 10_000
	// maxScopesBytes bounds the scopes value: a handful of claim names.
	maxScopesBytes = 4 << 10
)

// defaultScopes are the claims read as groups when the ConfigMap names none.
func defaultScopes() []string { return []string{"groups"} }

// FromConfigMap parses an RBAC ConfigMap's data. Besides policy.csv, keys
// named policy.<anything>.csv are read after it in the order of their names, as
// Argo CD's overlays are. Nil or empty data gives the built-in roles, held by
// nobody. The warnings are lines worth a look that did not stop the parse.
func FromConfigMap(data map[string]string) (*Policy, []string, error) {
	var (
		files    []source
		warnings []string
		size     int
		lines    int
	)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == KeyPolicy || isOverlay(k):
			size += len(data[k])
			lines += strings.Count(data[k], "\n") + 1
		case k == KeyDefault || k == KeyScopes || k == KeyMatchMode:
		default:
			warnings = append(warnings, fmt.Sprintf("unknown key %q", k))
		}
	}
	if size > MaxPolicyBytes {
		return nil, nil, fmt.Errorf("policy files: %d bytes: the limit is %d", size, MaxPolicyBytes)
	}
	if lines > MaxPolicyLines {
		return nil, nil, fmt.Errorf("policy files: %d lines: the limit is %d", lines, MaxPolicyLines)
	}
	// policy.csv first, then the overlays, already sorted.
	if text, ok := data[KeyPolicy]; ok {
		files = append(files, source{file: KeyPolicy, text: text})
	}
	for _, k := range keys {
		if isOverlay(k) {
			files = append(files, source{file: k, text: data[k]})
		}
	}
	if mode := strings.TrimSpace(data[KeyMatchMode]); mode != "" && mode != "glob" {
		return nil, nil, fmt.Errorf("%s %q: only glob is supported", KeyMatchMode, mode)
	}
	scopes, err := parseScopes(data)
	if err != nil {
		return nil, nil, err
	}
	defaultRole := strings.TrimSpace(data[KeyDefault])
	p, err := parse(files, defaultRole, scopes)
	if err != nil {
		return nil, nil, err
	}
	if defaultRole != "" && !p.defines(defaultRole) {
		warnings = append(warnings, fmt.Sprintf("%s %q: no line gives that role anything", KeyDefault, defaultRole))
	}
	p.warnings = append(warnings, p.warnings...)
	return p, slices.Clone(p.warnings), nil
}

// isOverlay reports whether key is an Argo CD policy overlay, policy.<name>.csv.
func isOverlay(key string) bool {
	name, ok := strings.CutPrefix(key, "policy.")
	if !ok {
		return false
	}
	name, ok = strings.CutSuffix(name, ".csv")
	return ok && name != "" && key != KeyPolicy
}

// parseScopes reads the scopes key as YAML, as Argo CD does.
func parseScopes(data map[string]string) ([]string, error) {
	raw, ok := data[KeyScopes]
	if !ok || strings.TrimSpace(raw) == "" {
		return defaultScopes(), nil
	}
	if len(raw) > maxScopesBytes {
		return nil, fmt.Errorf("%s: %d bytes: the limit is %d", KeyScopes, len(raw), maxScopesBytes)
	}
	var scopes []string
	if err := yaml.Unmarshal([]byte(raw), &scopes); err != nil {
		return nil, fmt.Errorf("%s %q: want a list such as [groups, email]: %w", KeyScopes, raw, err)
	}
	for _, s := range scopes {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("%s %q: %w", KeyScopes, raw, errors.New("empty claim name"))
		}
	}
	if scopes == nil {
		// [] names no claims: nobody gets groups from the identity provider.
		scopes = []string{}
	}
	return scopes, nil
}

// defines reports whether any line gives role something: a p line of its own
// or a g line to a role that has some. A built-in role always has lines.
func (p *Policy) defines(role string) bool {
	for _, s := range p.closure([]string{role}) {
		if len(p.rules[s]) > 0 {
			return true
		}
	}
	return false
}
