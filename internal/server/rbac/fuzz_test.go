package rbac

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary policy text: parsing must never panic, and a policy
// that parses must answer checks without panicking and never allow an
// anonymous caller.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		teamPolicy,
		BuiltinPolicy,
		"p, alice, applications, get, \"team-{a,b}/*\", deny",
		"g, role:a, role:b\ng, role:b, role:a",
		"p, a, b, c, [",
		"p, a, b, c, {a,",
		"p, a, b, c, \\",
		"p, a, \"b\nc\", d, e",
		gChain(MaxRoleDepth + 1),
		"\x00\xff,\"",
	} {
		f.Add(seed, "alice", "dev-team", "team-a/payments/api")
	}
	f.Fuzz(func(t *testing.T, policy, user, group, object string) {
		p, _, err := FromConfigMap(map[string]string{KeyPolicy: policy, KeyDefault: "role:dev"})
		if err != nil {
			if p != nil {
				t.Fatal("a Policy returned with an error")
			}
			return
		}
		subjects := []Subjects{
			{User: user, Groups: []string{group}},
			{User: user, Roles: []string{"role:dev"}, Projects: []string{group}},
			{Roles: []string{RolePrefix + group}},
		}
		for _, s := range subjects {
			c := p.Resolve(s)
			for _, a := range []Action{Get, Sync, Action(group)} {
				d := c.Enforce(Applications, a, object)
				_ = d.String()
				if d.Allowed() && s.User == "" && s.Roles == nil {
					t.Fatalf("anonymous caller allowed: %s", d)
				}
				if d.Allowed() && d.Rule == nil {
					t.Fatalf("allowed with no rule: %v", d.Reason)
				}
			}
		}
		if d := p.Enforce(Subjects{}, Applications, Get, object); d.Allowed() {
			t.Fatalf("anonymous caller allowed: %s", d)
		}
		if strings.Contains(policy, "\x00") {
			t.Fatal("a policy with a NUL byte parsed")
		}
	})
}
