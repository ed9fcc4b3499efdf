package notify

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// githubStatus writes GitHub's commit statuses, on github.com and GitHub
// Enterprise Server:
//
//	POST {base}/repos/{owner}/{repo}/statuses/{sha}
//	Authorization: Bearer TOKEN
//	Accept: application/vnd.github+json
//	X-GitHub-Api-Version: 2022-11-28
//	{"state": "error|failure|pending|success", "target_url": "…",
//	 "description": "…", "context": "…"}
//
// Checked against GitHub's REST API description (operation
// repos/create-commit-status; 201 on success; at most 1000 statuses per sha
// and context) and its API-versions page: 2022-11-28 is the version GitHub
// Enterprise Server releases know too. GitHub refuses a description over
// 140 characters (422 "description is too long (maximum is 140
// characters)", as many integrations found). GitHub cannot run here, so
// github's tests check these requests with an HTTP test server.
var githubStatus = statusServer{
	base: func(l repoLocation) (*url.URL, error) {
		host, err := webHost(l)
		if err != nil {
			return nil, err
		}
		name := host
		if h, port, err := net.SplitHostPort(host); err == nil && port == "443" {
			name = h
		}
		switch strings.ToLower(name) {
		case "github.com", "www.github.com", "ssh.github.com":
			return httpsBase("api.github.com"), nil
		}
		return httpsBase(host, "api", "v3"), nil
	},
	request: func(segs []string, sha string, s statusFields) (string, any, error) {
		if len(segs) != 2 {
			return "", nil, errors.New("the repository URL's path is not owner/repository")
		}
		path := "/repos/" + url.PathEscape(segs[0]) + "/" + url.PathEscape(segs[1]) + "/statuses/" + sha
		return path, githubStatusBody{
			State:       githubStates[s.State],
			TargetURL:   s.Target,
			Description: s.Description,
			Context:     s.Context,
		}, nil
	},
	auth: func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	},
	header: http.Header{
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {"2022-11-28"},
	},
	maxDescription: 140,
	maxTarget:      maxAddress,
}

// githubStatusBody is GitHub's commit status request.
type githubStatusBody struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// githubStates spells the states as GitHub does; it has no "running".
var githubStates = map[commitState]string{
	statePending: "pending",
	stateRunning: "pending",
	stateSuccess: "success",
	stateFailure: "failure",
	stateError:   "error",
}
