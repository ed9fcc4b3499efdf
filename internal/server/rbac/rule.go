package rbac

import (
	"fmt"
	"strings"
)

// A Rule is one p line of a policy, kept as written so a Decision can point at
// it.
type Rule struct {
	// File is the ConfigMap key the line came from, such as policy.csv, or
	// builtin-policy.csv for the built-in roles.
	File string
	// Line is the line's number in File, from 1.
	Line int

	// The fields as written, trimmed: Subject matches exactly, the next three
	// are globs.
	Subject  string
	Resource string
	Action   string
	Object   string
	// Effect is Allow when the line leaves it out, as in Argo CD.
	Effect Effect
}

// String returns the rule as its file and line followed by the line, the form
// errors and explanations use: policy.csv:7: p, alice, applications, get, x/*, deny.
func (r Rule) String() string {
	fields := []string{"p", r.Subject, r.Resource, r.Action, r.Object, r.Effect.String()}
	for i, f := range fields {
		fields[i] = csvField(f)
	}
	return fmt.Sprintf("%s:%d: %s", r.File, r.Line, strings.Join(fields, ", "))
}

// csvField quotes a field the way a policy would have to write it.
func csvField(f string) string {
	if !strings.ContainsAny(f, ",\"\r\n") && strings.TrimSpace(f) == f {
		return f
	}
	return `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
}

// rule is a Rule with its patterns compiled; seq orders rules across files so
// decisions name the first matching line, whichever subject it belongs to.
type rule struct {
	Rule
	seq                      int
	resource, action, object pattern
}

func (r *rule) matches(resource Resource, action Action, object string) bool {
	return r.resource.match(string(resource)) && r.action.match(string(action)) && r.object.match(object)
}
