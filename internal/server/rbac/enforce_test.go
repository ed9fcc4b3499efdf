package rbac

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// teamPolicy is a small organisation: developers, a lead role that inherits
// theirs, people and groups fenced off from some projects, and a deny on the
// default role that holds for everyone.
const teamPolicy = `# developers
p, role:dev, applications, *, team-a/*, allow
g, dev-team, role:dev
g, role:lead, role:dev
g, carol, role:lead
p, role:lead, applications, delete, team-a/prod/*, allow
p, dev-team, applications, delete, team-a/prod/*, deny
p, alice, applications, get, secret-project/*, deny
p, bob, applications, sync, team-b/*/api, allow
p, role:readonly, applications, get, vault/*, deny
g, root, role:admin
p, role:ops, projects, update, team-*, allow
p, role:dev, applications, sync, team-a/frozen/*, deny
p, dave, applications, sync, team-a/frozen/*, allow
`

func mustPolicy(t testing.TB, data map[string]string) *Policy {
	t.Helper()
	p, _, err := FromConfigMap(data)
	if err != nil {
		t.Fatalf("FromConfigMap: %v", err)
	}
	return p
}

func TestEnforce(t *testing.T) {
	p := mustPolicy(t, map[string]string{KeyPolicy: teamPolicy, KeyDefault: ReadOnly})
	const (
		readonlyGet   = "allowed by builtin-policy.csv:4: p, role:readonly, applications, get, *, allow"
		devAll        = "allowed by policy.csv:2: p, role:dev, applications, *, team-a/*, allow"
		adminAll      = "allowed by builtin-policy.csv:12: p, role:admin, *, *, *, allow"
		devTeamDelete = "denied by policy.csv:7: p, dev-team, applications, delete, team-a/prod/*, deny"
		aliceSecret   = "denied by policy.csv:8: p, alice, applications, get, secret-project/*, deny"
		vault         = "denied by policy.csv:10: p, role:readonly, applications, get, vault/*, deny"
		noAllow       = "denied: no allow line matched"
	)
	tests := []struct {
		name     string
		subjects Subjects
		resource Resource
		action   Action
		object   string
		want     string
	}{
		{"default role reads", Subjects{User: "alice"}, Applications, Get, "team-a/payments/api", readonlyGet},
		{"default role does not sync", Subjects{User: "alice"}, Applications, Sync, "team-a/payments/api", noAllow},
		{"user deny restricts the default role", Subjects{User: "alice"}, Applications, Get, "secret-project/x/y", aliceSecret},
		{"the deny is alice's alone", Subjects{User: "bob"}, Applications, Get, "secret-project/x/y", readonlyGet},
		{"group reaches role", Subjects{User: "dave", Groups: []string{"dev-team"}}, Applications, Sync, "team-a/payments/api", devAll},
		{"group deny beats role allow", Subjects{User: "dave", Groups: []string{"dev-team"}}, Applications, Delete, "team-a/prod/api", devTeamDelete},
		{"transitive role allows", Subjects{User: "carol"}, Applications, Delete, "team-a/prod/api", devAll},
		{"group deny beats transitive role", Subjects{User: "carol", Groups: []string{"dev-team"}}, Applications, Delete, "team-a/prod/api", devTeamDelete},
		{"role deny beats user allow", Subjects{User: "dave", Groups: []string{"dev-team"}}, Applications, Sync, "team-a/frozen/api", "denied by policy.csv:13: p, role:dev, applications, sync, team-a/frozen/*, deny"},
		{"user allow without the role", Subjects{User: "dave"}, Applications, Sync, "team-a/frozen/api", "allowed by policy.csv:14: p, dave, applications, sync, team-a/frozen/*, allow"},
		{"user deny beats group allow", Subjects{User: "alice", Groups: []string{"dev-team"}}, Applications, Get, "secret-project/x/y", aliceSecret},
		{"default role deny holds for admins", Subjects{User: "root"}, Applications, Get, "vault/x/y", vault},
		{"admin does everything else", Subjects{User: "root"}, Tokens, Delete, "*", adminAll},
		{"admin does future resources", Subjects{User: "root"}, Resource("clusters"), Action("rotate"), "*", adminAll},
		{"glob spans slashes", Subjects{User: "bob"}, Applications, Sync, "team-b/payments/api", "allowed by policy.csv:9: p, bob, applications, sync, team-b/*/api, allow"},
		{"glob anchors its end", Subjects{User: "bob"}, Applications, Sync, "team-b/payments/api-2", noAllow},
		{"resource action", Subjects{User: "dave", Groups: []string{"dev-team"}}, Applications, ResourceAction("apps", "Deployment", "restart"), "team-a/x/web", devAll},
		{"readonly cannot read tokens", Subjects{User: "alice"}, Tokens, Get, "*", noAllow},
		{"readonly exports the ledger", Subjects{User: "alice"}, Ledger, Export, "*", "allowed by builtin-policy.csv:7: p, role:readonly, ledger, export, *, allow"},
		{"subjects match exactly", Subjects{User: "Alice"}, Applications, Get, "secret-project/x/y", readonlyGet},

		{"anonymous", Subjects{}, Applications, Get, "team-a/x/y", "denied: anonymous callers may do nothing"},
		{"groups without a user are anonymous", Subjects{Groups: []string{"dev-team"}}, Applications, Get, "team-a/x/y", "denied: anonymous callers may do nothing"},
		{"user named as a role", Subjects{User: "role:admin"}, Applications, Get, "team-a/x/y", ReasonInvalidSubjects.String()},
		{"group named as a role", Subjects{User: "eve", Groups: []string{"role:admin"}}, Applications, Get, "team-a/x/y", ReasonInvalidSubjects.String()},

		{"token acts with its roles", Subjects{User: "alice", Roles: []string{"role:dev"}}, Applications, Sync, "team-a/x/y", devAll},
		{"token loses the default role", Subjects{User: "alice", Roles: []string{"role:dev"}}, Applications, Get, "team-b/x/y", noAllow},
		{"token keeps its owner's denies", Subjects{User: "alice", Roles: []string{"role:admin"}}, Applications, Get, "secret-project/x/y", aliceSecret},
		{"token keeps the default role's denies", Subjects{User: "root", Roles: []string{"role:admin"}}, Applications, Get, "vault/x/y", vault},
		{"token keeps its owner's group denies", Subjects{User: "carol", Groups: []string{"dev-team"}, Roles: []string{"role:lead"}}, Applications, Delete, "team-a/prod/api", devTeamDelete},
		{"token with no roles does nothing", Subjects{User: "root", Roles: []string{}}, Applications, Get, "team-a/x/y", noAllow},
		{"token without a user", Subjects{Roles: []string{ReadOnly}}, Applications, Get, "team-a/x/y", readonlyGet},
		{"token role not named as a role", Subjects{User: "eve", Roles: []string{"root"}}, Applications, Get, "team-a/x/y", ReasonInvalidSubjects.String()},
		{"token inside its projects", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Applications, Delete, "team-a/x/y", adminAll},
		{"token outside its projects", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Applications, Delete, "team-b/x/y", ReasonOutsideProjects.String()},
		{"token project globs", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-*"}}, Applications, Sync, "team-b/x/y", adminAll},
		{"token project is a project's object", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Projects, Update, "team-a", adminAll},
		{"token project prefix is not a project", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Projects, Update, "team-a/x", ReasonOutsideProjects.String()},
		{"project token cannot touch accounts", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"*"}}, Accounts, Get, "*", ReasonOutsideProjects.String()},
		{"project token cannot export the whole ledger", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Ledger, Export, "*", ReasonOutsideProjects.String()},
		{"project token reads its ledger records", Subjects{User: "root", Roles: []string{Admin}, Projects: []string{"team-a"}}, Ledger, Get, "team-a/x/y", adminAll},
		{"project restriction on a user too", Subjects{User: "root", Projects: []string{"team-a"}}, Applications, Get, "team-b/x/y", ReasonOutsideProjects.String()},
		{"bad project glob matches nothing", Subjects{User: "root", Projects: []string{"[team"}}, Applications, Get, "[team/x/y", ReasonOutsideProjects.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Enforce(tt.subjects, tt.resource, tt.action, tt.object)
			if got := d.String(); got != tt.want {
				t.Errorf("Enforce(%+v, %s, %s, %s) = %q, want %q", tt.subjects, tt.resource, tt.action, tt.object, got, tt.want)
			}
			if d.Allowed() != (d.Reason == ReasonAllowed) {
				t.Errorf("Allowed() = %v with reason %v", d.Allowed(), d.Reason)
			}
		})
	}
}

func TestNoDefaultRole(t *testing.T) {
	p := mustPolicy(t, map[string]string{KeyPolicy: teamPolicy})
	if d := p.Enforce(Subjects{User: "alice"}, Applications, Get, "team-a/x/y"); d.Allowed() {
		t.Errorf("without policy.default, alice was %s", d)
	}
	for _, data := range []map[string]string{nil, {}} {
		p := mustPolicy(t, data)
		if d := p.Enforce(Subjects{User: "root", Groups: []string{"admins"}}, Applications, Get, "*"); d.Allowed() {
			t.Errorf("an empty ConfigMap %v allowed: %s", data, d)
		}
	}
	var nilPolicy *Policy
	if d := nilPolicy.Enforce(Subjects{User: "root"}, Applications, Get, "*"); d.Allowed() {
		t.Errorf("a nil Policy allowed: %s", d)
	}
	if d := (Decision{}); d.Allowed() || d.String() != "denied: no decision" {
		t.Errorf("the zero Decision is %q, allowed %v", d, d.Allowed())
	}
}

func TestCallerSubjects(t *testing.T) {
	p := mustPolicy(t, map[string]string{KeyPolicy: teamPolicy, KeyDefault: ReadOnly})
	tests := []struct {
		name     string
		subjects Subjects
		want     []string
	}{
		{"user, groups, roles reached, default role", Subjects{User: "carol", Groups: []string{"dev-team", ""}}, []string{"carol", "dev-team", ReadOnly, "role:lead", "role:dev"}},
		{"token roles only", Subjects{User: "carol", Roles: []string{"role:lead"}}, []string{"role:lead", "role:dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, p.Resolve(tt.subjects).Subjects()); diff != "" {
				t.Errorf("Subjects() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResourceAction(t *testing.T) {
	tests := []struct {
		group, kind, name string
		want              Action
	}{
		{"apps", "Deployment", "restart", "action/apps/Deployment/restart"},
		{"", "Pod", "delete", "action/core/Pod/delete"},
		{"core", "Pod", "delete", "action/core/Pod/delete"},
	}
	for _, tt := range tests {
		if got := ResourceAction(tt.group, tt.kind, tt.name); got != tt.want {
			t.Errorf("ResourceAction(%q, %q, %q) = %q, want %q", tt.group, tt.kind, tt.name, got, tt.want)
		}
		if !knownAction(string(tt.want)) {
			t.Errorf("%s is not a known action", tt.want)
		}
	}
}

func TestSomewhere(t *testing.T) {
	pol, _, err := FromConfigMap(map[string]string{"policy.csv": "p, alice, applications, get, team-a/*\np, bob, applications, get, *, deny\ng, bob, role:readonly\n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   string
		action Action
		want   bool
	}{
		{"alice", Get, true},
		{"alice", Sync, false},
		{"bob", Get, false}, // denied everywhere, though readonly allows
		{"carol", Get, false},
	} {
		if got := pol.Resolve(Subjects{User: tc.user}).Somewhere(Applications, tc.action); got != tc.want {
			t.Errorf("%s %s applications somewhere = %v, want %v", tc.user, tc.action, got, tc.want)
		}
	}
}
