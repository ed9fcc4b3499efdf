package notify

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// gitlabStatus writes GitLab's commit statuses:
//
//	POST {base}/api/v4/projects/{url-encoded group/sub/project}/statuses/{sha}
//	PRIVATE-TOKEN: TOKEN
//	{"state": "pending|running|success|failed|canceled", "name": "…",
//	 "target_url": "…", "description": "…"}
//
// Checked against GitLab's doc/api/commits.md ("Set the pipeline status of
// a commit": id as the URL-encoded path of the project; state; name or
// context, "default" when absent; target_url and description "must be 255
// characters or fewer"). GitLab cannot run here, so gitlab's tests check
// these requests with an HTTP test server.
var gitlabStatus = statusServer{
	base: func(l repoLocation) (*url.URL, error) {
		host, err := webHost(l)
		if err != nil {
			return nil, err
		}
		return httpsBase(host), nil
	},
	request: func(segs []string, sha string, s statusFields) (string, any, error) {
		// Subgroups nest: the project is the whole path, one URL-encoded
		// segment (group%2Fsub%2Fproject).
		project := url.PathEscape(strings.Join(segs, "/"))
		return "/api/v4/projects/" + project + "/statuses/" + sha, gitlabStatusBody{
			State:       gitlabStates[s.State],
			Name:        s.Context,
			TargetURL:   s.Target,
			Description: s.Description,
		}, nil
	},
	auth: func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("PRIVATE-TOKEN", token) }
	},
	header:         http.Header{"Accept": {"application/json"}},
	maxDescription: 255,
	maxTarget:      255,
	already:        gitlabAlready,
}

// gitlabStatusBody is GitLab's commit status request.
type gitlabStatusBody struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
}

// gitlabStates spells the states as GitLab does; it has no "error". GitLab
// does not move a running status back to pending ("Cannot transition status
// via :enqueue from :running", a final error here); Lockstep sends pending
// only while a commit waits for an approval, before anything is applied.
var gitlabStates = map[commitState]string{
	statePending: "pending",
	stateRunning: "running",
	stateSuccess: "success",
	stateFailure: "failed",
	stateError:   "failed",
}

// gitlabTransition is GitLab's refusal to move a pending or running status
// to the state it already has: 400 {"message": "Cannot transition status
// via :run from :running (…)"}. Integrations hit it when they post the same
// state twice (gitlab-org/gitlab-foss#25807); for Lockstep it means a retry
// or a repeated message found the status already set.
var gitlabTransition = regexp.MustCompile(`answered 400 [^:]*:.*Cannot transition status via :[a-z_]+ from :([a-z_]+)`)

func gitlabAlready(err *DeliveryError, s statusFields) bool {
	m := gitlabTransition.FindStringSubmatch(err.Err.Error())
	return m != nil && m[1] == gitlabStates[s.State]
}
