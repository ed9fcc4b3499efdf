// Package rbac decides who may do what through the operator API. Policies are
// written in Argo CD's RBAC CSV form so teams can carry theirs over, but they
// are read with stricter semantics: deny always wins, and it wins over the
// default role too. The package is pure: a ConfigMap's data in, decisions out;
// it never logs and never reads the cluster.
//
// # Lines
//
//	p, <subject>, <resource>, <action>, <object>[, allow|deny]
//	g, <user-or-group>, <role>
//
// A p line with no effect allows, as in Argo CD. Blank lines and lines whose
// first non-blank character is # are ignored. Fields are CSV: a field holding a
// comma (a glob such as {a,b}) is quoted. Subjects match exactly; resource,
// action and object are globs in Argo CD's syntax (*, ?, [a-z], [!a], {a,b},
// \ to escape) in which * also spans /, so team-a/* covers every Application
// of project team-a. Unknown resources and actions are accepted (a
// policy may name ones a later Lockstep adds) and reported as warnings.
//
// Roles are named role:<name>. A g line makes its left side a member of its
// right side; roles may be members of roles, up to MaxRoleDepth lines deep, and
// a cycle is an error rather than something to resolve silently.
//
// # Objects
//
//	applications, logs  <project>/<namespace>/<name>  team-a/payments/api
//	ledger              the Application's object, or * for the whole ledger
//	projects            <project>                     team-a
//	accounts, tokens    *
//
// Argo CD's object for an Application is <project>/<name> unless Applications
// may live in any namespace; here it always has the namespace, and Argo CD's
// team-a/* still matches because * spans /.
//
// # Actions
//
// get, create, update, delete, sync, refresh, suspend, resume, export, preview
// (of a revision other than the followed one), rollback, hold, promote, and
// resource actions spelled action/<group>/<kind>/<name>, such as
// action/apps/Deployment/restart. The core API group, empty in Kubernetes, is
// written core (action/core/Pod/delete) so no spelling has an empty segment;
// ResourceAction builds the spelling. Resource actions are checked against the
// Application's object, as in Argo CD.
//
// # Decisions
//
// A request is allowed when at least one allow line matches and no deny line
// matches, over every subject of the caller: the user name, each group, every
// role reached from them through g lines, and the default role (the
// policy.default key) with its roles. Unlike Argo CD, a deny line therefore
// restricts what the default role grants: with role:readonly as the default,
//
//	p, alice, applications, get, secret-project/*, deny
//
// hides that project from alice; a deny line on the default role itself holds
// for every caller. Everything else is refused: there is no anonymous access,
// and an empty ConfigMap grants nothing beyond the built-in roles, which
// nobody holds until a g line or policy.default names them.
//
// Built-in roles, defined by BuiltinPolicy: role:readonly gets
// Applications, Projects, the ledger (and exports it), logs and accounts, but
// not tokens; role:admin may do everything. A policy may deny things to them
// but not add lines of its own for them.
//
// See Subjects for how API tokens narrow a caller.
package rbac
