package rbac

// Somewhere reports whether the caller may do action on resource for at
// least one object: an allow line names the resource and action, and no deny
// line refuses it for every object. A list answers 403 when this is false,
// and otherwise filters object by object with Enforce, so it never shows more
// than Enforce allows.
func (c *Caller) Somewhere(resource Resource, action Action) bool {
	if c.refused != 0 {
		return false
	}
	for _, r := range c.denies {
		if r.object.kind == patternAny && r.resource.match(string(resource)) && r.action.match(string(action)) {
			return false
		}
	}
	for _, r := range c.allows {
		if r.resource.match(string(resource)) && r.action.match(string(action)) {
			return true
		}
	}
	return false
}

// Names reports whether the policy names subject: a p line's subject or a g
// line's left side. A caller's other groups change nothing it decides, so
// they need not be carried (an identity provider may list hundreds).
func (p *Policy) Names(subject string) bool {
	p = p.orBuiltin()
	return len(p.rules[subject]) > 0 || len(p.members[subject]) > 0
}
