package rbac

// The built-in roles.
const (
	// ReadOnly may read everything but tokens.
	ReadOnly = RolePrefix + "readonly"
	// Admin may do everything.
	Admin = RolePrefix + "admin"
)

// BuiltinFile is the file name decisions give the built-in lines.
const BuiltinFile = "builtin-policy.csv"

// BuiltinPolicy defines the built-in roles, as Argo CD's builtin-policy.csv
// does, so what they grant reads as a policy. Every policy starts from it.
const BuiltinPolicy = `# role:readonly reads everything an operator looks at, the ledger included:
# auditors read it and take it away as an export. Tokens are not readable: their
# metadata shows who can act as whom.
p, role:readonly, applications, get, *, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, ledger, get, *, allow
p, role:readonly, ledger, export, *, allow
p, role:readonly, logs, get, *, allow
p, role:readonly, accounts, get, *, allow

# role:admin may do everything, on resources that later versions add too.
p, role:admin, *, *, *, allow
`

// builtinRoles are the roles a policy may only restrict.
var builtinRoles = map[string]bool{ReadOnly: true, Admin: true}

// builtin is the policy of an empty ConfigMap: the built-in roles, held by
// nobody. Store answers it before its first Load.
var builtin = mustParseBuiltin()

func mustParseBuiltin() *Policy {
	p, err := parse(nil, "", defaultScopes())
	if err != nil {
		panic("rbac: " + BuiltinFile + ": " + err.Error())
	}
	return p
}
