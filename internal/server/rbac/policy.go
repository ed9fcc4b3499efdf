package rbac

import "slices"

// A Policy is a parsed RBAC ConfigMap: who holds which roles and what each
// subject may and may not do. It is immutable once made, so one Policy serves
// concurrent requests; Store swaps in a new one on reload.
type Policy struct {
	// rules are the p lines by subject, in file order: the built-in lines
	// first, then policy.csv, then any overlays.
	rules map[string][]*rule
	// members are the g lines by their left side.
	members     map[string][]edge
	defaultRole string
	scopes      []string
	warnings    []string
}

// A source is one policy file: a ConfigMap key and its text.
type source struct{ file, text string }

// parse reads BuiltinPolicy and then files into one Policy.
func parse(files []source, defaultRole string, scopes []string) (*Policy, error) {
	p := &Policy{defaultRole: defaultRole, scopes: scopes}
	ps := newParser(p)
	ps.builtin = true
	ps.parse(BuiltinFile, BuiltinPolicy)
	ps.builtin = false
	for _, f := range files {
		ps.parse(f.file, f.text)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	if err := checkRoles(p.members); err != nil {
		return nil, err
	}
	p.warnings = ps.warnings
	return p, nil
}

// DefaultRole returns the role every authenticated caller holds, from
// policy.default, or "" for none.
func (p *Policy) DefaultRole() string { return p.orBuiltin().defaultRole }

// Scopes returns the OIDC claims whose values are the caller's groups.
func (p *Policy) Scopes() []string { return slices.Clone(p.orBuiltin().scopes) }

// Warnings returns what looked wrong in the ConfigMap but did not stop it from
// loading, such as a resource Lockstep does not check, one per line.
func (p *Policy) Warnings() []string { return slices.Clone(p.orBuiltin().warnings) }

// orBuiltin lets a nil Policy act as an empty ConfigMap's, so a caller that
// never loaded one grants only what the built-in roles do to nobody.
func (p *Policy) orBuiltin() *Policy {
	if p == nil {
		return builtin
	}
	return p
}
