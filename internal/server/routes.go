package server

import (
	"net/http"

	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// Paths of the API.
const (
	PathHealth       = "/healthz"
	PathSession      = "/api/v1/session"
	PathAccounts     = "/api/v1/accounts"
	PathTokens       = "/api/v1/tokens"
	PathApplications = "/api/v1/applications"
	PathProjects     = "/api/v1/projects"
	PathRecords      = "/api/v1/records"
	PathReleases     = "/api/v1/releases"
	PathVerify       = "/api/v1/verify"
	PathExport       = "/api/v1/export"
	PathBlame        = "/api/v1/blame"
	PathPublicKey    = "/api/v1/publickey"
	PathStream       = "/api/v1/stream"
	// PathHooks begins every webhook Receiver's path (v1.ReceiverPathPrefix).
	PathHooks = "/hooks/"
)

// Paths of single sign-on (sso.go). The browser's two are outside /api/v1:
// they answer redirects, not JSON, and the provider is registered with the
// callback's URL.
const (
	PathAuthConfig   = "/api/v1/auth/config"
	PathSessionSSO   = PathSession + "/sso"
	PathAuthLogin    = "/auth/login"
	PathAuthCallback = "/auth/callback"
)

// scope says which object a route's permission is checked against.
type scope int

const (
	// scopeGlobal checks the object "*": the whole ledger, every account.
	scopeGlobal scope = iota
	// scopeApplication checks "<project>/<namespace>/<name>" of the
	// Application the path names (loaded before the handler runs).
	scopeApplication
	// scopeProject checks the Project the path names.
	scopeProject
	// scopeList checks that the caller may act on at least one object; the
	// handler answers only what the caller may see.
	scopeList
	// scopeAuthenticated asks only that the caller be authenticated: their own
	// session and password.
	scopeAuthenticated
	// scopeNone is for logging in.
	scopeNone
)

// route is one API call: its method and pattern (net/http's), the permission
// it needs, and its handler. A handler runs only after its permission held.
type route struct {
	method, pattern string
	resource        rbac.Resource
	action          rbac.Action
	scope           scope
	handle          func(w http.ResponseWriter, r *http.Request, c *call) error
}

// actionOfRequest marks a route whose action the request names: a resource
// action is checked as action/<group>/<kind>/<action> of the object it acts
// on (resourceActionOf).
const actionOfRequest rbac.Action = "action/<group>/<kind>/<action>"

// Route describes a route for tests and docs.
type Route struct {
	Method, Pattern string
	Resource        rbac.Resource
	Action          rbac.Action
	// Public routes need no credentials (logging in).
	Public bool
	// AnyCaller routes need credentials but no permission (your own session).
	AnyCaller bool
}

// Routes lists every route with the permission it needs.
func (s *Server) Routes() []Route {
	out := make([]Route, 0, len(s.routes))
	for _, rt := range s.routes {
		out = append(out, Route{Method: rt.method, Pattern: rt.pattern, Resource: rt.resource, Action: rt.action,
			Public: rt.scope == scopeNone, AnyCaller: rt.scope == scopeAuthenticated})
	}
	return out
}

const appPath = PathApplications + "/{namespace}/{name}"

func (s *Server) table() []route {
	const (
		get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
		apps, projects      = rbac.Applications, rbac.Projects
		ledger, accounts    = rbac.Ledger, rbac.Accounts
		tokens              = rbac.Tokens
	)
	const none rbac.Action = ""
	return []route{
		// sessions: log in, who am I, log out
		{post, PathSession, "", none, scopeNone, s.login},
		{get, PathSession, "", none, scopeAuthenticated, s.whoami},
		{del, PathSession, "", none, scopeAuthenticated, s.logout},
		{put, PathSession + "/password", "", none, scopeAuthenticated, s.changeOwnPassword},

		// Applications and Projects, from the watch cache
		{get, PathApplications, apps, rbac.Get, scopeList, s.listApplications},
		{get, appPath, apps, rbac.Get, scopeApplication, s.getApplication},
		{post, PathApplications + "/bulk/sync", apps, rbac.Sync, scopeList, s.bulk("sync", rbac.Sync)},
		{post, PathApplications + "/bulk/refresh", apps, rbac.Refresh, scopeList, s.bulk("refresh", rbac.Refresh)},
		{post, PathApplications + "/bulk/suspend", apps, rbac.Suspend, scopeList, s.bulk("suspend", rbac.Suspend)},
		{post, PathApplications + "/bulk/resume", apps, rbac.Resume, scopeList, s.bulk("resume", rbac.Resume)},
		{get, appPath + "/preview", apps, rbac.Get, scopeApplication, s.previewApplication},
		{get, appPath + "/tree", apps, rbac.Get, scopeApplication, s.getTree},
		{get, appPath + "/resource", apps, rbac.Get, scopeApplication, s.getResource},
		{get, appPath + "/logs", rbac.Logs, rbac.Get, scopeApplication, s.podLogs},
		{post, appPath + "/resource/actions/{action}", apps, actionOfRequest, scopeApplication, s.resourceAction},
		{post, appPath + "/sync", apps, rbac.Sync, scopeApplication, s.syncApplication},
		{post, appPath + "/refresh", apps, rbac.Refresh, scopeApplication, s.refreshApplication},
		{post, appPath + "/suspend", apps, rbac.Suspend, scopeApplication, s.suspendApplication},
		{post, appPath + "/resume", apps, rbac.Resume, scopeApplication, s.resumeApplication},
		{post, appPath + "/rollback", apps, rbac.Rollback, scopeApplication, s.rollbackApplication},
		{post, appPath + "/promote", apps, rbac.Promote, scopeApplication, s.promoteApplication},
		{put, appPath + "/hold", apps, rbac.Hold, scopeApplication, s.holdApplication},
		{del, appPath + "/hold", apps, rbac.Hold, scopeApplication, s.releaseApplication},
		{get, PathStream + "/applications", apps, rbac.Get, scopeList, s.streamApplications},
		{get, PathStream + "/applications/{namespace}/{name}", apps, rbac.Get, scopeApplication, s.streamApplication},
		{get, PathProjects, projects, rbac.Get, scopeList, s.listProjects},
		{get, PathProjects + "/{name}", projects, rbac.Get, scopeProject, s.getProject},

		// the ledger
		{get, PathRecords, ledger, rbac.Get, scopeList, s.records},
		{get, PathReleases, ledger, rbac.Get, scopeList, s.releases},
		{get, PathVerify, ledger, rbac.Get, scopeGlobal, s.verify},
		{get, PathExport, ledger, rbac.Export, scopeGlobal, s.export},
		{get, PathBlame, ledger, rbac.Get, scopeList, s.blame},
		{get, PathPublicKey, ledger, rbac.Get, scopeList, s.publicKey},

		// accounts and tokens
		{get, PathAccounts, accounts, rbac.Get, scopeGlobal, s.listAccounts},
		{post, PathAccounts, accounts, rbac.Create, scopeGlobal, s.createAccount},
		{put, PathAccounts + "/{name}/password", accounts, rbac.Update, scopeGlobal, s.setPassword},
		{del, PathAccounts + "/{name}", accounts, rbac.Delete, scopeGlobal, s.deleteAccount},
		{get, PathTokens, tokens, rbac.Get, scopeGlobal, s.listTokens},
		{post, PathTokens, tokens, rbac.Create, scopeGlobal, s.createToken},
		{del, PathTokens + "/{id}", tokens, rbac.Delete, scopeGlobal, s.revokeToken},

		// single sign-on
		{get, PathAuthConfig, "", none, scopeNone, s.authConfig},
		{post, PathSessionSSO, "", none, scopeNone, s.loginSSO},
		{get, PathAuthLogin, "", none, scopeNone, s.ssoStart},
		{get, PathAuthCallback, "", none, scopeNone, s.ssoCallback},
	}
}
