package rbac

import "strings"

// A Resource is the kind of thing a request touches, the third field of a p line.
type Resource string

// The resources the API checks. A policy may name others (see the package doc).
const (
	Applications Resource = "applications"
	Projects     Resource = "projects"
	Ledger       Resource = "ledger"
	Logs         Resource = "logs"
	Accounts     Resource = "accounts"
	Tokens       Resource = "tokens"
)

// An Action is what a request does to a Resource, the fourth field of a p line.
type Action string

// The actions the API checks, besides the resource actions ResourceAction spells.
const (
	Get     Action = "get"
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Sync    Action = "sync"
	Refresh Action = "refresh"
	Suspend Action = "suspend"
	Resume  Action = "resume"
	Export  Action = "export"
	// Preview previews a revision other than the one an Application follows
	// (a branch about to be merged): it renders content nobody has reviewed
	// yet, so it is not part of get.
	Preview Action = "preview"
	// Rollback writes a revert commit for an Application (with the Project's
	// Git write access) and holds its automation.
	Rollback Action = "rollback"
	// Hold puts or clears a hold on an Application's automation.
	Hold Action = "hold"
	// Promote writes a promotion into an Application as a commit.
	Promote Action = "promote"
)

// resourceActionPrefix starts every resource action.
const resourceActionPrefix = "action/"

// CoreGroup is how a resource action spells Kubernetes' core API group, whose
// real name is empty: an empty segment (action//Pod/delete) is easy to misread
// and to mistype.
const CoreGroup = "core"

// ResourceAction spells the action that runs the resource action name on
// objects of the group and kind, such as action/apps/Deployment/restart. An
// empty group is the core group.
func ResourceAction(group, kind, name string) Action {
	if group == "" {
		group = CoreGroup
	}
	return Action(resourceActionPrefix + group + "/" + kind + "/" + name)
}

// projectScope says where a resource's object names its project, for tokens
// limited to some projects (Subjects.Projects).
type projectScope int

const (
	// noProject: the object belongs to no project, so a token limited to
	// projects may not touch it. Unknown resources are here: failing closed.
	noProject projectScope = iota
	// firstSegment: <project>/<namespace>/<name>, or * for all of them.
	firstSegment
	// wholeObject: the object is the project's name.
	wholeObject
)

// resources are the known resources and where their objects name a project.
var resources = map[Resource]projectScope{
	Applications: firstSegment,
	Logs:         firstSegment,
	Ledger:       firstSegment,
	Projects:     wholeObject,
	Accounts:     noProject,
	Tokens:       noProject,
}

// actions are the known actions other than resource actions.
var actions = map[Action]bool{
	Get: true, Create: true, Update: true, Delete: true, Sync: true,
	Refresh: true, Suspend: true, Resume: true, Export: true, Preview: true, Rollback: true, Hold: true, Promote: true,
}

// projectOf returns the project the object names for the resource, and false
// when the object belongs to none.
func projectOf(resource Resource, object string) (string, bool) {
	switch resources[resource] {
	case firstSegment:
		project, _, _ := strings.Cut(object, "/")
		return project, true
	case wholeObject:
		return object, true
	default:
		return "", false
	}
}

// knownAction reports whether a literal action is one Lockstep checks: a
// resource action needs exactly group, kind and name after its prefix.
func knownAction(a string) bool {
	if rest, ok := strings.CutPrefix(a, resourceActionPrefix); ok {
		parts := strings.Split(rest, "/")
		return len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != ""
	}
	return actions[Action(a)]
}

// An Effect is what a matching p line does to a request.
type Effect int

// The effects a p line may have; the zero Effect is neither.
const (
	Allow Effect = iota + 1
	Deny
)

// String returns the effect as a policy spells it.
func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	default:
		return "unknown"
	}
}
