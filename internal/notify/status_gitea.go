package notify

import (
	"net/http"
	"net/url"
)

// giteaStatus writes Gitea's (and Forgejo's) commit statuses:
//
//	POST {base}/api/v1/repos/{owner}/{repo}/statuses/{sha}
//	Authorization: token TOKEN
//	{"state": "pending|success|error|failure|warning", "target_url": "…",
//	 "description": "…", "context": "…"}
//
// Checked against Gitea's swagger (operation repoCreateStatus,
// CreateStatusOption: context, description, state, target_url; answer 201)
// and Forgejo's published JSON schema of the same CreateStatusOption, and
// run against a real Gitea in status_gitea_test.go. Gitea stores
// description, context and target URL as TEXT; descriptions are kept to
// GitLab's 255 characters all the same, so that a status reads alike
// everywhere.
var giteaStatus = statusServer{
	base: func(l repoLocation) (*url.URL, error) {
		host, err := webHost(l)
		if err != nil {
			return nil, err
		}
		if l.Web {
			// Gitea may be served under a sub-path (ROOT_URL
			// https://example.org/gitea/): every segment before owner/repo.
			return httpsBase(host, l.Segments[:len(l.Segments)-2]...), nil
		}
		return httpsBase(host), nil
	},
	request: func(segs []string, sha string, s statusFields) (string, any, error) {
		owner, repo := segs[len(segs)-2], segs[len(segs)-1]
		path := "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/statuses/" + sha
		return path, giteaStatusBody{
			State:       giteaStates[s.State],
			TargetURL:   s.Target,
			Description: s.Description,
			Context:     s.Context,
		}, nil
	},
	auth: func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "token "+token) }
	},
	header:         http.Header{"Accept": {"application/json"}},
	maxDescription: 255,
	maxTarget:      maxAddress,
}

// giteaStatusBody is Gitea's CreateStatusOption.
type giteaStatusBody struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// giteaStates spells the states as Gitea does; it has no "running".
var giteaStates = map[commitState]string{
	statePending: "pending",
	stateRunning: "pending",
	stateSuccess: "success",
	stateFailure: "failure",
	stateError:   "error",
}
