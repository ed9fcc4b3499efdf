package rbac

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lines returns n copies of line, one per line.
func lines(n int, line string) string {
	return strings.Repeat(line+"\n", n-1) + line
}

// gChain is a chain of n g lines: user → role:1 → ... → role:n.
func gChain(n int) string {
	var b strings.Builder
	from := "user"
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "g, %s, role:%d\n", from, i)
		from = fmt.Sprintf("role:%d", i)
	}
	return b.String()
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data map[string]string
		want string
	}{
		{"p with too few fields", map[string]string{KeyPolicy: "p, alice, applications, get"}, `policy.csv:1: p line has 4 fields: want p, subject, resource, action, object[, effect]`},
		{"p with too many fields", map[string]string{KeyPolicy: "p, a, applications, get, *, allow, x"}, `policy.csv:1: p line has 7 fields: want p, subject, resource, action, object[, effect]`},
		{"g with too many fields", map[string]string{KeyPolicy: "\n# roles\ng, alice, role:dev, extra"}, `policy.csv:3: g line has 4 fields: want g, user-or-group, role`},
		{"bad effect", map[string]string{KeyPolicy: lines(6, "# x") + "\np, alice, applications, get, *, alow"}, `policy.csv:7: effect "alow": want allow or deny`},
		{"empty effect", map[string]string{KeyPolicy: "p, alice, applications, get, *,"}, `policy.csv:1: effect "": want allow or deny`},
		{"unterminated quote", map[string]string{KeyPolicy: "p, alice, applications, get, \"team-a/*, allow\np, bob, applications, get, *, allow"}, `policy.csv:1: column 46: extraneous or missing " in quoted-field`},
		{"bare quote", map[string]string{KeyPolicy: `p, ali"ce, applications, get, *`}, `policy.csv:1: column 7: bare " in non-quoted-field`},
		{"empty subject", map[string]string{KeyPolicy: "p, , applications, get, *"}, `policy.csv:1: empty subject`},
		{"empty object", map[string]string{KeyPolicy: `p, alice, applications, get, ""`}, `policy.csv:1: empty object`},
		{"empty role", map[string]string{KeyPolicy: "g, alice,"}, `policy.csv:1: empty role`},
		{"empty member", map[string]string{KeyPolicy: "g, , role:dev"}, `policy.csv:1: empty user or group`},
		{"unknown kind", map[string]string{KeyPolicy: "r, alice, role:dev"}, `policy.csv:1: line kind "r": want p or g`},
		{"NUL byte", map[string]string{KeyPolicy: "p, alice, applications, get, *\np, bob\x00, applications, get, *"}, `policy.csv:2: column 7: NUL byte`},
		{"invalid UTF-8", map[string]string{KeyPolicy: "p, \xff, applications, get, *"}, `policy.csv:1: not valid UTF-8`},
		{"bad glob", map[string]string{KeyPolicy: "p, alice, applications, get, team-[a"}, `policy.csv:1: object "team-[a": unexpected end of input`},
		{"too many bytes", map[string]string{KeyPolicy: strings.Repeat("#", MaxPolicyBytes+1)}, `policy files: 1048577 bytes: the limit is 1048576`},
		{"too many lines", map[string]string{KeyPolicy: lines(MaxPolicyLines+1, "")}, `policy files: 10001 lines: the limit is 10000`},
		{"limits count overlays", map[string]string{KeyPolicy: lines(6000, ""), "policy.team.csv": lines(6000, "")}, `policy files: 12000 lines: the limit is 10000`},
		{"overlay errors name their key", map[string]string{KeyPolicy: "", "policy.team.csv": "p, alice"}, `policy.team.csv:1: p line has 2 fields: want p, subject, resource, action, object[, effect]`},
		{"built-in role granted more", map[string]string{KeyPolicy: "p, role:readonly, tokens, get, *, allow"}, `policy.csv:1: role:readonly is built in: a policy may deny things to it but not grant it more`},
		{"built-in role granted more, effect omitted", map[string]string{KeyPolicy: "p, role:admin, tokens, get, *"}, `policy.csv:1: role:admin is built in: a policy may deny things to it but not grant it more`},
		{"built-in role made a member", map[string]string{KeyPolicy: "g, role:readonly, role:dev"}, `policy.csv:1: role:readonly is built in: a policy may not make it a member of role:dev`},
		{"cycle", map[string]string{KeyPolicy: "g, role:a, role:b\ng, role:b, role:c\ng, role:c, role:a"}, `policy.csv:3: g, role:c, role:a closes a cycle: role:a → role:b → role:c → role:a`},
		{"self cycle", map[string]string{KeyPolicy: "g, role:a, role:a"}, `policy.csv:1: g, role:a, role:a closes a cycle: role:a → role:a`},
		{"chain too deep", map[string]string{KeyPolicy: gChain(MaxRoleDepth + 1)}, `policy.csv:17: roles nest more than 16 g lines deep: user → role:1 → role:2 → role:3 → role:4 → role:5 → role:6 → role:7 → role:8 → role:9 → role:10 → role:11 → role:12 → role:13 → role:14 → role:15 → role:16 → role:17`},
		{"chain too deep through a measured role", map[string]string{KeyPolicy: strings.ReplaceAll(gChain(MaxRoleDepth), "g, user,", "g, zed,") + "g, x, y\ng, y, zed"}, `policy.csv:15: roles nest more than 16 g lines deep: x → y → zed → role:1 → role:2 → role:3 → role:4 → role:5 → role:6 → role:7 → role:8 → role:9 → role:10 → role:11 → role:12 → role:13 → role:14 → role:15 → role:16`},
		{"regex match mode", map[string]string{KeyMatchMode: "regex"}, `policy.matchMode "regex": only glob is supported`},
		{"scopes not a list", map[string]string{KeyScopes: "groups"}, `scopes "groups": want a list such as [groups, email]: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type []string`},
		{"scopes with an empty claim", map[string]string{KeyScopes: `[groups, ""]`}, `scopes "[groups, \"\"]": empty claim name`},
		{"scopes too long", map[string]string{KeyScopes: "[" + strings.Repeat("g", 5000) + "]"}, `scopes: 5002 bytes: the limit is 4096`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := FromConfigMap(tt.data)
			if err == nil {
				t.Fatalf("FromConfigMap succeeded, want %q", tt.want)
			}
			if p != nil {
				t.Errorf("FromConfigMap returned a Policy with its error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseErrorsAreLineErrors(t *testing.T) {
	_, _, err := FromConfigMap(map[string]string{KeyPolicy: "p, a\n\np, b, applications, get, *, nope"})
	var got []LineError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		le, ok := errors.AsType[*LineError](e)
		if !ok {
			t.Fatalf("%v is not a *LineError", e)
		}
		got = append(got, LineError{File: le.File, Line: le.Line})
	}
	want := []LineError{{File: KeyPolicy, Line: 1}, {File: KeyPolicy, Line: 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestParseReportsTheFirstErrors(t *testing.T) {
	_, _, err := FromConfigMap(map[string]string{KeyPolicy: lines(25, "p, alice")})
	msgs := strings.Split(err.Error(), "\n")
	if len(msgs) != maxReported+1 || msgs[maxReported] != "and 15 more errors" {
		t.Errorf("got %d messages ending %q, want %d and %q", len(msgs), msgs[len(msgs)-1], maxReported+1, "and 15 more errors")
	}
}

func TestParseAccepts(t *testing.T) {
	policy := "  # a comment after spaces, with a \"quote\r\n" +
		"\r\n" +
		"p,alice,applications,get,team-a/*,allow\r\n" +
		"  p ,  bob  , applications , get , \"team-{a,b}/*\", deny  \n" +
		"p, carol, applications, get, team-c/*\n" +
		"g, role:a, role:b\n" + gChain(MaxRoleDepth)
	p, warnings, err := FromConfigMap(map[string]string{KeyPolicy: policy, KeyDefault: ReadOnly, KeyScopes: "[groups, email]"})
	if err != nil {
		t.Fatalf("FromConfigMap: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if diff := cmp.Diff([]string{"groups", "email"}, p.Scopes()); diff != "" {
		t.Errorf("Scopes() (-want +got):\n%s", diff)
	}
	if got := p.DefaultRole(); got != ReadOnly {
		t.Errorf("DefaultRole() = %q, want %q", got, ReadOnly)
	}
	checks := []struct {
		user, object string
		want         string
	}{
		// The built-in lines come first in policy order.
		{"alice", "team-a/x/y", "allowed by builtin-policy.csv:4: p, role:readonly, applications, get, *, allow"},
		{"bob", "team-b/x/y", `denied by policy.csv:4: p, bob, applications, get, "team-{a,b}/*", deny`},
		{"carol", "team-c/x/y", "allowed by builtin-policy.csv:4: p, role:readonly, applications, get, *, allow"},
	}
	for _, c := range checks {
		if got := p.Enforce(Subjects{User: c.user}, Applications, Get, c.object).String(); got != c.want {
			t.Errorf("%s get %s: %q, want %q", c.user, c.object, got, c.want)
		}
	}
	// The effect may be left out, as in Argo CD; without a default role, the
	// lines of alice and carol allow.
	p = mustPolicy(t, map[string]string{KeyPolicy: policy})
	for _, c := range []struct{ user, object, want string }{
		{"alice", "team-a/x/y", "allowed by policy.csv:3: p, alice, applications, get, team-a/*, allow"},
		{"carol", "team-c/x/y", "allowed by policy.csv:5: p, carol, applications, get, team-c/*, allow"},
	} {
		if got := p.Enforce(Subjects{User: c.user}, Applications, Get, c.object).String(); got != c.want {
			t.Errorf("%s without a default role: %q, want %q", c.user, got, c.want)
		}
	}
	// The deepest chain allowed still reaches its last role.
	if got := p.Resolve(Subjects{User: "user"}).Subjects(); len(got) != MaxRoleDepth+1 {
		t.Errorf("user reaches %d subjects, want %d", len(got), MaxRoleDepth+1)
	}
	// Exactly the line limit parses.
	if _, _, err := FromConfigMap(map[string]string{KeyPolicy: lines(MaxPolicyLines, "p, alice, applications, get, *")}); err != nil {
		t.Errorf("%d lines: %v", MaxPolicyLines, err)
	}
}

func TestWarnings(t *testing.T) {
	p, warnings, err := FromConfigMap(map[string]string{
		KeyPolicy: "p, alice, aplications, get, *\n" +
			"p, alice, applications, sycn, *\n" +
			"p, alice, applications, action/apps/Deployment, *\n" +
			"p, alice, app*, action/apps/Deployment/restart, *\n" +
			"p, role:readonly, applications, get, secret/*, deny",
		KeyDefault:    "role:nobody",
		KeyScopes:     "[]",
		"policy.dflt": "role:readonly",
	})
	if err != nil {
		t.Fatalf("FromConfigMap: %v", err)
	}
	want := []string{
		`unknown key "policy.dflt"`,
		`policy.default "role:nobody": no line gives that role anything`,
		`policy.csv:1: resource "aplications" is not one Lockstep checks`,
		`policy.csv:2: action "sycn" is not one Lockstep checks (resource actions are spelled action/<group>/<kind>/<name>)`,
		`policy.csv:3: action "action/apps/Deployment" is not one Lockstep checks (resource actions are spelled action/<group>/<kind>/<name>)`,
	}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, p.Warnings()); diff != "" {
		t.Errorf("Policy.Warnings() (-want +got):\n%s", diff)
	}
	if got := p.Scopes(); got == nil || len(got) != 0 {
		t.Errorf("scopes [] gave %#v, want an empty list", got)
	}
}

func TestBuiltin(t *testing.T) {
	p := mustPolicy(t, nil)
	if diff := cmp.Diff([]string{"groups"}, p.Scopes()); diff != "" {
		t.Errorf("default Scopes() (-want +got):\n%s", diff)
	}
	readonly := Subjects{Roles: []string{ReadOnly}}
	admin := Subjects{Roles: []string{Admin}}
	for _, r := range []Resource{Applications, Projects, Ledger, Logs, Accounts, Tokens} {
		for _, a := range []Action{Get, Create, Update, Delete, Sync, Refresh, Suspend, Resume, Export, ResourceAction("apps", "Deployment", "restart")} {
			wantReadonly := a == Get && r != Tokens || a == Export && r == Ledger
			if got := p.Enforce(readonly, r, a, "*").Allowed(); got != wantReadonly {
				t.Errorf("role:readonly %s %s: allowed %v, want %v", a, r, got, wantReadonly)
			}
			if d := p.Enforce(admin, r, a, "team-a/x/y"); !d.Allowed() {
				t.Errorf("role:admin %s %s: %s", a, r, d)
			}
		}
	}
}
