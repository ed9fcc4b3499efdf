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
