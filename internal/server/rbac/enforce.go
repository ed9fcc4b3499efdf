package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// Subjects are who a request comes from, as authentication found them.
type Subjects struct {
	// User is the authenticated name: a local account or the OIDC subject. An
	// empty User with nil Roles is anonymous and refused everything.
	User string
	// Groups are the values of the claims the Policy's Scopes name.
	Groups []string

	// Roles, when not nil, limits an API token to these roles: allow lines
	// count only for them and the roles they reach, not for User, Groups or the
	// default role. Deny lines of all of those still count, so a token never
	// steps over a fence its owner is behind. An empty, non-nil Roles allows
	// nothing. Each must be a role, named role:<name>; checking that the token's
	// owner may hand it these roles is the token issuer's job.
	Roles []string
	// Projects, when not empty, limits an API token to objects of projects
	// matching one of these globs: every check on another object is refused
	// before any line is read. The project is the first segment of an
	// Application's, its logs' or ledger records' object, and a Project's whole
	// object. The whole-ledger object * matches only a glob that matches the
	// name *, such as * itself.
	// Accounts, tokens and unknown resources belong to no project, so a token
	// limited to projects may never touch them. A glob that does not compile
	// matches nothing.
	Projects []string
}

// A Reason says why a Decision went the way it did.
type Reason int

// The reasons, ReasonAllowed first. The zero Reason refuses too, so a Decision
// nobody filled in never allows.
const (
	// ReasonAllowed: an allow line matched and no deny line did.
	ReasonAllowed Reason = iota + 1
	// ReasonDenied: a deny line matched; Decision.Rule is the first.
	ReasonDenied
	// ReasonNoAllow: no allow line matched.
	ReasonNoAllow
	// ReasonOutsideProjects: the object is outside the token's Projects.
	ReasonOutsideProjects
	// ReasonAnonymous: the caller has neither a user name nor token roles.
	ReasonAnonymous
	// ReasonInvalidSubjects: a user or group is named like a role, or a token
	// role is not. Names are kept apart so that nobody becomes role:admin by
	// being called that in the identity provider.
	ReasonInvalidSubjects
)

// String returns the reason as a sentence's end: "allowed", "denied: ...".
func (r Reason) String() string {
	switch r {
	case ReasonAllowed:
		return "allowed"
	case ReasonDenied:
		return "denied by a deny line"
	case ReasonNoAllow:
		return "denied: no allow line matched"
	case ReasonOutsideProjects:
		return "denied: the object is outside the token's projects"
	case ReasonAnonymous:
		return "denied: anonymous callers may do nothing"
	case ReasonInvalidSubjects:
		return "denied: user and group names may not start with " + RolePrefix + ", and token roles must"
	default:
		return "denied: no decision"
	}
}

// A Decision is the answer to one check, with what the API logs and
// lockstep can-i shows to explain it.
type Decision struct {
	// Reason says why; only ReasonAllowed allows.
	Reason Reason
	// Rule is the line that decided: for ReasonDenied the deny line, for
	// ReasonAllowed the first allow line that matched; nil otherwise. It is
	// the Policy's own: read it, do not change it.
	Rule *Rule
}

// Allowed reports whether the request may go ahead.
func (d Decision) Allowed() bool { return d.Reason == ReasonAllowed }

// String explains the decision in one line, naming the deciding line.
func (d Decision) String() string {
	switch {
	case d.Rule != nil && d.Reason == ReasonAllowed:
		return fmt.Sprintf("allowed by %s", d.Rule)
	case d.Rule != nil && d.Reason == ReasonDenied:
		return fmt.Sprintf("denied by %s", d.Rule)
	default:
		return d.Reason.String()
	}
}

// A Caller is Subjects resolved against one Policy: the roles they reach and
// the lines that apply to them, gathered once. Listing ten thousand
// Applications resolves the caller once and checks each with Enforce.
type Caller struct {
	// refused, when not zero, answers every check.
	refused  Reason
	subjects []string
	// allows and denies are the lines that apply, in policy order.
	allows, denies []*rule
	// limited is set when the token names Projects; projects may then be
	// empty if none compiled, and nothing is allowed.
	limited  bool
	projects []pattern
}

// Resolve gathers the roles and lines of s. See Subjects for what each field
// contributes.
func (p *Policy) Resolve(s Subjects) *Caller {
	p = p.orBuiltin()
	if s.User == "" && s.Roles == nil {
		return &Caller{refused: ReasonAnonymous}
	}
	if isRole(s.User) || slices.ContainsFunc(s.Groups, isRole) ||
		slices.ContainsFunc(s.Roles, func(r string) bool { return !isRole(r) }) {
		return &Caller{refused: ReasonInvalidSubjects}
	}
	// The owner's subjects: what a session of this user would act as.
	owner := append(append([]string{s.User}, s.Groups...), p.defaultRole)
	c := &Caller{subjects: p.closure(owner)}
	denyFrom := c.subjects
	if s.Roles != nil {
		c.subjects = p.closure(s.Roles)
		denyFrom = p.closure(append(owner, s.Roles...))
	}
	for _, subject := range c.subjects {
		for _, r := range p.rules[subject] {
			if r.Effect == Allow {
				c.allows = append(c.allows, r)
			}
		}
	}
	for _, subject := range denyFrom {
		for _, r := range p.rules[subject] {
			if r.Effect == Deny {
				c.denies = append(c.denies, r)
			}
		}
	}
	bySeq := func(a, b *rule) int { return a.seq - b.seq }
	slices.SortFunc(c.allows, bySeq)
	slices.SortFunc(c.denies, bySeq)
	if len(s.Projects) > 0 {
		c.limited = true
		c.projects = compileProjects(s.Projects)
	}
	return c
}

// isRole reports whether name is spelled as a role.
func isRole(name string) bool { return strings.HasPrefix(name, RolePrefix) }

// Subjects returns the names whose allow lines count for the caller: the user,
// groups, default role and every role they reach, or for a token limited to
// roles, those roles and the ones they reach.
func (c *Caller) Subjects() []string { return slices.Clone(c.subjects) }

// Enforce decides whether the caller may do action on the resource's object.
// Deny wins: one matching deny line refuses, whatever allows.
func (c *Caller) Enforce(resource Resource, action Action, object string) Decision {
	if c.refused != 0 {
		return Decision{Reason: c.refused}
	}
	if c.limited && !c.inProjects(resource, object) {
		return Decision{Reason: ReasonOutsideProjects}
	}
	for _, r := range c.denies {
		if r.matches(resource, action, object) {
			return Decision{Reason: ReasonDenied, Rule: &r.Rule}
		}
	}
	for _, r := range c.allows {
		if r.matches(resource, action, object) {
			return Decision{Reason: ReasonAllowed, Rule: &r.Rule}
		}
	}
	return Decision{Reason: ReasonNoAllow}
}

func (c *Caller) inProjects(resource Resource, object string) bool {
	project, ok := projectOf(resource, object)
	if !ok {
		return false
	}
	for _, p := range c.projects {
		if p.match(project) {
			return true
		}
	}
	return false
}

// Enforce resolves s and makes one check; a caller making many resolves once
// with Resolve.
func (p *Policy) Enforce(s Subjects, resource Resource, action Action, object string) Decision {
	return p.Resolve(s).Enforce(resource, action, object)
}
