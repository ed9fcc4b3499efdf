package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/webhook"
)

var secret = []byte("receiver-secret")

func sign(body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Payloads in the shapes each server documents, cut to what is read.
const (
	githubPush = `{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","deleted":false,
"repository":{"full_name":"team/app","clone_url":"https://github.internal/team/app.git","ssh_url":"git@github.internal:team/app.git","html_url":"https://github.internal/team/app"},
"commits":[{"added":["deploy/prod/new.yaml"],"modified":["deploy/prod/app.yaml"],"removed":[]},{"added":[],"modified":["README.md","deploy/prod/app.yaml"],"removed":["old.yaml"]}]}`
	giteaPush = `{"ref":"refs/tags/v1.2.0","after":"3333333333333333333333333333333333333333",
"repository":{"full_name":"team/app","clone_url":"https://gitea.internal/team/app.git","ssh_url":"ssh://git@gitea.internal:2222/team/app.git"},"commits":[]}`
	gitlabPush = `{"object_kind":"push","ref":"refs/heads/main","before":"3333333333333333333333333333333333333333","after":"4444444444444444444444444444444444444444","checkout_sha":"4444444444444444444444444444444444444444",
"project":{"path_with_namespace":"platform/team/app","git_http_url":"https://gitlab.internal/platform/team/app.git","git_ssh_url":"git@gitlab.internal:platform/team/app.git","web_url":"https://gitlab.internal/platform/team/app"},
"commits":[{"added":[],"modified":["envs/prod/values.yaml"],"removed":[]}],"total_commits_count":1}`
	bitbucketPush = `{"eventKey":"repo:refs_changed","date":"2026-11-30T09:45:32+0000","actor":{"name":"ada"},
"repository":{"slug":"app","id":84,"name":"app","scmId":"git","project":{"key":"TEAM","id":21,"name":"Team"}},
"changes":[{"ref":{"id":"refs/heads/main","displayId":"main","type":"BRANCH"},"refId":"refs/heads/main","fromHash":"5555555555555555555555555555555555555555","toHash":"6666666666666666666666666666666666666666","type":"UPDATE"}]}`
)

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// Each server's push, signed its own way, reads as the same kind of event.
func TestEachServersPush(t *testing.T) {
	cases := []struct {
		provider webhook.Provider
		body     string
		header   http.Header
		want     webhook.Event
	}{
		{webhook.GitHub, githubPush, headers("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+sign([]byte(githubPush))), webhook.Event{
			Repositories: []string{"https://github.internal/team/app.git", "git@github.internal:team/app.git", "https://github.internal/team/app", "team/app"},
			Ref:          "refs/heads/main", Commit: "2222222222222222222222222222222222222222",
			Files: []string{"README.md", "deploy/prod/app.yaml", "deploy/prod/new.yaml", "old.yaml"}}},
		{webhook.Gitea, giteaPush, headers("X-Gitea-Event", "push", "X-Gitea-Signature", sign([]byte(giteaPush))), webhook.Event{
			Repositories: []string{"https://gitea.internal/team/app.git", "ssh://git@gitea.internal:2222/team/app.git", "team/app"},
			Ref:          "refs/tags/v1.2.0", Commit: "3333333333333333333333333333333333333333"}},
		{webhook.Gitea, giteaPush, headers("X-Forgejo-Event", "push", "X-Forgejo-Signature", sign([]byte(giteaPush))), webhook.Event{
			Repositories: []string{"https://gitea.internal/team/app.git", "ssh://git@gitea.internal:2222/team/app.git", "team/app"},
			Ref:          "refs/tags/v1.2.0", Commit: "3333333333333333333333333333333333333333"}},
		{webhook.GitLab, gitlabPush, headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", string(secret)), webhook.Event{
			Repositories: []string{"https://gitlab.internal/platform/team/app.git", "git@gitlab.internal:platform/team/app.git", "https://gitlab.internal/platform/team/app", "platform/team/app"},
			Ref:          "refs/heads/main", Commit: "4444444444444444444444444444444444444444", Files: []string{"envs/prod/values.yaml"}}},
		{webhook.BitbucketServer, bitbucketPush, headers("X-Event-Key", "repo:refs_changed", "X-Hub-Signature", "sha256="+sign([]byte(bitbucketPush))), webhook.Event{
			Repositories: []string{"team/app"}, Ref: "refs/heads/main", Commit: "6666666666666666666666666666666666666666"}},
		{webhook.Generic, `{"ref":"refs/heads/main","after":"7777777777777777777777777777777777777777","repository":{"clone_url":"https://git.internal/team/app.git"},"files":["b","a","b"]}`, nil, webhook.Event{
			Repositories: []string{"https://git.internal/team/app.git"}, Ref: "refs/heads/main", Commit: "7777777777777777777777777777777777777777", Files: []string{"a", "b"}}},
	}
	for _, c := range cases {
		t.Run(string(c.provider), func(t *testing.T) {
			h := c.header
			if h == nil {
				h = headers("X-Hub-Signature-256", "sha256="+sign([]byte(c.body)))
			}
			got, err := webhook.Parse(c.provider, h, []byte(c.body), secret)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// A request that does not prove the secret is refused whatever it holds;
// events other than pushes are told apart; bad payloads say why.
func TestWhatIsRefused(t *testing.T) {
	gh := func(event, sig string) http.Header {
		return headers("X-GitHub-Event", event, "X-Hub-Signature-256", sig)
	}
	good := "sha256=" + sign([]byte(githubPush))
	cases := []struct {
		name     string
		provider webhook.Provider
		header   http.Header
		body     string
		secret   []byte
		want     error
		text     string
	}{
		{"no signature", webhook.GitHub, gh("push", ""), githubPush, secret, webhook.ErrSignature, ""},
		{"a wrong signature", webhook.GitHub, gh("push", "sha256="+strings.Repeat("0", 64)), githubPush, secret, webhook.ErrSignature, ""},
		{"a signature of another body", webhook.GitHub, gh("push", good), githubPush + " ", secret, webhook.ErrSignature, ""},
		{"SHA-1 instead", webhook.GitHub, gh("push", "sha1="+sign([]byte(githubPush))), githubPush, secret, webhook.ErrSignature, ""},
		{"not hex", webhook.GitHub, gh("push", "sha256=zz"), githubPush, secret, webhook.ErrSignature, ""},
		{"another secret", webhook.GitHub, gh("push", good), githubPush, []byte("other"), webhook.ErrSignature, ""},
		{"no secret configured", webhook.GitHub, gh("push", good), githubPush, nil, nil, "has no secret"},
		{"a ping", webhook.GitHub, gh("ping", good), githubPush, secret, webhook.ErrNotPush, ""},
		{"GitLab's token wrong", webhook.GitLab, headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "receiver-secreT"), gitlabPush, secret, webhook.ErrSignature, ""},
		{"GitLab's token empty", webhook.GitLab, headers("X-Gitlab-Event", "Push Hook"), gitlabPush, secret, webhook.ErrSignature, ""},
		{"a GitLab merge request", webhook.GitLab, headers("X-Gitlab-Event", "Merge Request Hook", "X-Gitlab-Token", string(secret)), gitlabPush, secret, webhook.ErrNotPush, ""},
		{"Gitea unsigned", webhook.Gitea, headers("X-Gitea-Event", "push"), giteaPush, secret, webhook.ErrSignature, ""},
		{"a Bitbucket pull request", webhook.BitbucketServer, headers("X-Event-Key", "pr:opened", "X-Hub-Signature", "sha256="+sign([]byte(bitbucketPush))), bitbucketPush, secret, webhook.ErrNotPush, ""},
		{"an unknown provider", "svn", gh("push", good), githubPush, secret, nil, "want one of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := webhook.Parse(c.provider, c.header, []byte(c.body), c.secret)
			if err == nil || c.want != nil && !errors.Is(err, c.want) || c.text != "" && !strings.Contains(err.Error(), c.text) {
				t.Errorf("%v, want %v %q", err, c.want, c.text)
			}
		})
	}
}

// Signed but malformed, hostile or oversized payloads are refused with why.
func TestSignedButBadPayloads(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"not JSON":            {"<xml/>", "not the JSON expected"},
		"two objects":         {githubPush + githubPush, "more after its JSON object"},
		"wrong types":         {`{"ref": 7, "repository": {"clone_url": "x"}}`, "not the JSON expected"},
		"no repository":       {`{"ref":"refs/heads/main","after":"1"}`, "names no repository"},
		"a short ref":         {`{"ref":"main","repository":{"clone_url":"https://g/t/a.git"}}`, "not a full ref"},
		"deeply nested":       {`{"repository":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`, "not the JSON expected"},
		"larger than allowed": {`{"x":"` + strings.Repeat("a", webhook.MaxBody) + `"}`, "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			h := headers("X-Hub-Signature-256", "sha256="+sign([]byte(c.body)))
			if _, err := webhook.Parse(webhook.Generic, h, []byte(c.body), secret); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want %q", err, c.want)
			}
		})
	}
}

// A deleted ref has no commit; a push of 20 commits (GitHub's cap) or one
// GitLab lists only in part has no file list: any path may have changed.
func TestDeletedRefsAndPartialFileLists(t *testing.T) {
	deleted := `{"ref":"refs/heads/topic","after":"0000000000000000000000000000000000000000","deleted":true,"repository":{"clone_url":"https://g/t/a.git"}}`
	e, err := webhook.Parse(webhook.GitHub, headers("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+sign([]byte(deleted))), []byte(deleted), secret)
	if err != nil || e.Commit != "" {
		t.Errorf("a deleted ref: %+v, %v", e, err)
	}
	twenty := `{"ref":"refs/heads/main","after":"1","repository":{"clone_url":"https://g/t/a.git"},"commits":[` + strings.TrimSuffix(strings.Repeat(`{"modified":["a"]},`, 20), ",") + `]}`
	e, err = webhook.Parse(webhook.GitHub, headers("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+sign([]byte(twenty))), []byte(twenty), secret)
	if err != nil || e.Files != nil || !e.Touches("anything") {
		t.Errorf("twenty commits: %+v, %v", e, err)
	}
	partial := strings.Replace(gitlabPush, `"total_commits_count":1`, `"total_commits_count":40`, 1)
	e, err = webhook.Parse(webhook.GitLab, headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", string(secret)), []byte(partial), secret)
	if err != nil || e.Files != nil {
		t.Errorf("a GitLab push listed in part: %+v, %v", e, err)
	}
}

// An Application matches an event by its repository under any of its
// names and by its ref, and by its path when files are listed.
func TestMatchesAndTouches(t *testing.T) {
	e := webhook.Event{Repositories: []string{"https://github.internal/team/app.git", "git@github.internal:team/app.git", "team/app"}, Ref: "refs/heads/main",
		Files: []string{"deploy/prod/app.yaml", "README.md"}}
	for url, want := range map[string]bool{
		"https://github.internal/team/app.git":           true,
		"https://github.internal/Team/App":               true,
		"ssh://git@github.internal/team/app.git":         true,
		"ssh://git@bitbucket.internal:7999/team/app.git": true,
		"https://bitbucket.internal/scm/team/app.git":    true,
		"https://github.internal/team/app-config.git":    false,
		"https://github.internal/other/app.git":          false,
	} {
		if got := e.Matches(url, "refs/heads/main"); got != want {
			t.Errorf("Matches(%s) = %v", url, got)
		}
	}
	if e.Matches("https://github.internal/team/app.git", "refs/heads/release") {
		t.Error("matched another branch")
	}
	if !e.Matches("https://github.internal/team/app.git", "") {
		t.Error("an Application on the default branch must look")
	}
	for dir, want := range map[string]bool{"deploy/prod": true, "deploy": true, "/deploy/prod/": true, "deploy/stage": false, "deploy/pro": false, "": true, ".": true} {
		if got := e.Touches(dir); got != want {
			t.Errorf("Touches(%q) = %v", dir, got)
		}
	}
	if slices.Contains(e.Files, "") {
		t.Error("an empty file name")
	}
}

// A list of changed files is used only when it is every file the push
// changed: not when the server cut the list (Gitea's 5 newest commits,
// GitHub's 20), the ref was created or force-pushed, or the push changed no
// file (an empty commit may bring approvals): then every Application on
// the ref looks. Bad refs and commits are refused.
func TestFilesAreUsedOnlyWhenComplete(t *testing.T) {
	const repo = `"repository":{"full_name":"team/app","clone_url":"https://gitea.internal/team/app.git"}`
	commit := `{"added":[],"modified":["apps/b/x.yaml"],"removed":[]}`
	six := strings.TrimSuffix(strings.Repeat(commit+",", 5), ",")
	before := `"before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222"`
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"complete", `{"ref":"refs/heads/main",` + before + `,` + repo + `,"commits":[` + commit + `],"total_commits":1}`, []string{"apps/b/x.yaml"}},
		{"Gitea cut the list to 5 of 6", `{"ref":"refs/heads/main",` + before + `,` + repo + `,"commits":[` + six + `],"total_commits":6}`, nil},
		{"a new branch", `{"ref":"refs/heads/new","before":"0000000000000000000000000000000000000000","after":"2222222222222222222222222222222222222222",` + repo + `,"commits":[` + commit + `]}`, nil},
		{"created", `{"ref":"refs/heads/main",` + before + `,"created":true,` + repo + `,"commits":[` + commit + `]}`, nil},
		{"forced", `{"ref":"refs/heads/main",` + before + `,"forced":true,` + repo + `,"commits":[` + commit + `]}`, nil},
		{"an empty commit", `{"ref":"refs/heads/main",` + before + `,` + repo + `,"commits":[{"added":[],"modified":[],"removed":[]}],"total_commits":1}`, nil},
		{"generic, no files", `{"ref":"refs/heads/main",` + before + `,` + repo + `,"files":[]}`, nil},
	} {
		e, err := webhook.Parse(webhook.Gitea, headers("X-Gitea-Event", "push", "X-Gitea-Signature", sign([]byte(tc.body))), []byte(tc.body), secret)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !cmp.Equal(e.Files, tc.want) {
			t.Errorf("%s: files %q, want %q", tc.name, e.Files, tc.want)
		}
	}
	for _, bad := range []string{
		`{"ref":"refs/heads/\u001b]8;;https://x\u0007main","after":"22",` + repo + `}`,
		`{"ref":"refs/heads/` + strings.Repeat("a", 300) + `","after":"22",` + repo + `}`,
		`{"ref":"refs/heads/main","after":"not a hash",` + repo + `}`,
		`{"ref":"refs/heads/ma\u202ein","after":"22",` + repo + `}`,
		`{"ref":"refs/heads/ma\u009bin","after":"22",` + repo + `}`,
	} {
		if _, err := webhook.Parse(webhook.Gitea, headers("X-Gitea-Event", "push", "X-Gitea-Signature", sign([]byte(bad))), []byte(bad), secret); err == nil {
			t.Errorf("accepted %.60s", bad)
		}
	}
}
