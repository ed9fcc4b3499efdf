package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode"
)

// hmacMatches checks a hex HMAC-SHA256 of body (with an optional prefix
// such as "sha256=") in constant time.
func hmacMatches(given, prefix string, body, secret []byte) bool {
	if !strings.HasPrefix(given, prefix) {
		return false
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(given, prefix))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// decode reads a JSON payload, refusing anything after it.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the payload is not the JSON expected: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("the payload has more after its JSON object")
	}
	return nil
}

// githubPush is GitHub's push payload; Gitea and Forgejo send the same
// shape, and so does Lockstep's generic form (GenericPayload).
type githubPush struct {
	Ref     string `json:"ref"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	Created bool   `json:"created"`
	Forced  bool   `json:"forced"`
	// TotalCommits is Gitea's count of the pushed commits: it lists only
	// the newest few ([ui] FEED_MAX_COMMIT_NUM, 5 by default).
	TotalCommits int `json:"total_commits"`
	Repository   struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		HTMLURL  string `json:"html_url"`
		URL      string `json:"url"`
	} `json:"repository"`
	Commits []changedFiles `json:"commits"`
	// Files is the generic form's list of changed paths.
	Files []string `json:"files"`
}

type changedFiles struct {
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

// GenericPayload documents the generic provider's body: GitHub's field
// names, so that a script (or a server this package does not know) can
// send {"ref": "refs/heads/main", "after": "<sha>", "repository":
// {"clone_url": "https://git.internal/team/app.git"}, "files": [...]}
// signed as GitHub signs: X-Hub-Signature-256: sha256=<hex HMAC-SHA256>.
type GenericPayload = githubPush

func parseGitHubLike(p Provider, h http.Header, body, secret []byte) (Event, error) {
	if !hmacMatches(h.Get("X-Hub-Signature-256"), "sha256=", body, secret) {
		return Event{}, fmt.Errorf("%w (X-Hub-Signature-256)", ErrSignature)
	}
	if p == GitHub && h.Get("X-GitHub-Event") != "push" {
		return Event{}, fmt.Errorf("%w: X-GitHub-Event %q", ErrNotPush, h.Get("X-GitHub-Event"))
	}
	return fromGitHubShape(body)
}

func parseGitea(h http.Header, body, secret []byte) (Event, error) {
	sig := h.Get("X-Gitea-Signature")
	if sig == "" {
		sig = h.Get("X-Forgejo-Signature")
	}
	if !hmacMatches(sig, "", body, secret) {
		return Event{}, fmt.Errorf("%w (X-Gitea-Signature)", ErrSignature)
	}
	event := h.Get("X-Gitea-Event")
	if event == "" {
		event = h.Get("X-Forgejo-Event")
	}
	if event != "push" {
		return Event{}, fmt.Errorf("%w: X-Gitea-Event %q", ErrNotPush, event)
	}
	return fromGitHubShape(body)
}

func fromGitHubShape(body []byte) (Event, error) {
	var push githubPush
	if err := decode(body, &push); err != nil {
		return Event{}, err
	}
	r := push.Repository
	e := Event{Repositories: nonEmpty(r.CloneURL, r.SSHURL, r.HTMLURL, r.URL, r.FullName), Ref: push.Ref, Commit: push.After}
	if push.Deleted || strings.Trim(push.After, "0") == "" {
		e.Commit = ""
	}
	switch {
	case push.Files != nil:
		e.Files = known(sortedUnique(push.Files))
	case push.completeList():
		e.Files = known(filesOf(push.Commits))
	}
	return e.checked()
}

// completeList says whether the payload's commits are every commit the ref
// moved by, so their files are every file that changed. Not when the ref
// was created or force-pushed (the commits it lost are not listed), nor
// when the list was cut: Gitea says how many there were; GitHub lists at
// most 20 in full (with 20, some may be missing). Gitea does not say when a
// push was forced: a force push that drops commits is seen only through the
// files of the commits it adds.
func (p githubPush) completeList() bool {
	switch {
	case len(p.Commits) == 0, p.Created, p.Forced, strings.Trim(p.Before, "0") == "":
		return false
	case p.TotalCommits > 0:
		return len(p.Commits) == p.TotalCommits
	}
	return len(p.Commits) < 20
}

// known is a list of changed files that says something: an empty one (an
// empty commit, which may carry approvals or a signature) is no list, so
// every Application following the ref looks.
func known(files []string) []string {
	if len(files) == 0 {
		return nil
	}
	return files
}

// gitlabPush is GitLab's Push Hook and Tag Push Hook payload.
type gitlabPush struct {
	ObjectKind string `json:"object_kind"`
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Project    struct {
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
		GitSSHURL         string `json:"git_ssh_url"`
		WebURL            string `json:"web_url"`
	} `json:"project"`
	Commits           []changedFiles `json:"commits"`
	TotalCommitsCount int            `json:"total_commits_count"`
}

func parseGitLab(h http.Header, body, secret []byte) (Event, error) {
	// GitLab sends the secret itself, not a signature of the body.
	if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), secret) != 1 {
		return Event{}, fmt.Errorf("%w (X-Gitlab-Token)", ErrSignature)
	}
	if ev := h.Get("X-Gitlab-Event"); ev != "Push Hook" && ev != "Tag Push Hook" {
		return Event{}, fmt.Errorf("%w: X-Gitlab-Event %q", ErrNotPush, ev)
	}
	var push gitlabPush
	if err := decode(body, &push); err != nil {
		return Event{}, err
	}
	p := push.Project
	e := Event{Repositories: nonEmpty(p.GitHTTPURL, p.GitSSHURL, p.WebURL, p.PathWithNamespace), Ref: push.Ref, Commit: push.After}
	if strings.Trim(push.After, "0") == "" {
		e.Commit = ""
	}
	// GitLab lists at most 20 commits; the count says whether that is all.
	// A new branch lists no parent to diff against.
	// GitLab lists a renamed file under added only, by its new path: the
	// folder it left is not named, so a push that added files lists no
	// complete set.
	if len(push.Commits) > 0 && len(push.Commits) == push.TotalCommitsCount && strings.Trim(push.Before, "0") != "" && !addsFiles(push.Commits) {
		e.Files = known(filesOf(push.Commits))
	}
	return e.checked()
}

// bitbucketPush is Bitbucket Server's repo:refs_changed payload. It names
// the repository by project key and slug, and lists no files.
type bitbucketPush struct {
	Repository struct {
		Slug    string `json:"slug"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Links struct {
			Clone []struct {
				Href string `json:"href"`
			} `json:"clone"`
		} `json:"links"`
	} `json:"repository"`
	Changes []struct {
		RefID  string `json:"refId"`
		ToHash string `json:"toHash"`
		Type   string `json:"type"`
	} `json:"changes"`
}

func parseBitbucketServer(h http.Header, body, secret []byte) (Event, error) {
	if !hmacMatches(h.Get("X-Hub-Signature"), "sha256=", body, secret) {
		return Event{}, fmt.Errorf("%w (X-Hub-Signature)", ErrSignature)
	}
	if ev := h.Get("X-Event-Key"); ev != "repo:refs_changed" {
		return Event{}, fmt.Errorf("%w: X-Event-Key %q", ErrNotPush, ev)
	}
	var push bitbucketPush
	if err := decode(body, &push); err != nil {
		return Event{}, err
	}
	if len(push.Changes) != 1 {
		// One event per ref is what the receiver refreshes by; several refs
		// in one push are read as "this repository moved".
		e := Event{Repositories: bitbucketNames(push)}
		return e.checked()
	}
	c := push.Changes[0]
	e := Event{Repositories: bitbucketNames(push), Ref: c.RefID, Commit: c.ToHash}
	if c.Type == "DELETE" || strings.Trim(c.ToHash, "0") == "" {
		e.Commit = ""
	}
	return e.checked()
}

func bitbucketNames(push bitbucketPush) []string {
	r := push.Repository
	names := nonEmpty(strings.ToLower(r.Project.Key) + "/" + r.Slug)
	if r.Slug == "" || r.Project.Key == "" {
		names = nil
	}
	for _, c := range r.Links.Clone {
		names = append(names, nonEmpty(c.Href)...)
	}
	return names
}

// checked refuses an event that names no repository, or a ref that is not
// one.
func (e Event) checked() (Event, error) {
	if len(e.Repositories) == 0 {
		return Event{}, fmt.Errorf("the payload names no repository")
	}
	if e.Ref != "" && (!strings.HasPrefix(e.Ref, "refs/") || len(e.Ref) > maxRef || strings.IndexFunc(e.Ref, notRefRune) >= 0) {
		return Event{}, fmt.Errorf("the payload's ref %.80q is not a full ref (refs/heads/..., refs/tags/...)", e.Ref)
	}
	if len(e.Commit) > 64 || strings.IndexFunc(e.Commit, notHex) >= 0 {
		return Event{}, fmt.Errorf("the payload's commit %.80q is not a commit hash", e.Commit)
	}
	return e, nil
}

// maxRef is the longest ref taken: Git servers refuse longer ones, and it
// is shown in status and logs.
const maxRef = 255

// notRefRune is what no ref holds (git check-ref-format): controls, space
// and a few punctuation marks; it keeps terminal escapes out of the status
// and the logs.
func notRefRune(r rune) bool {
	return !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r) || strings.ContainsRune(" ~^:?*[\\", r)
}

func notHex(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }

func addsFiles(commits []changedFiles) bool {
	for _, c := range commits {
		if len(c.Added) > 0 {
			return true
		}
	}
	return false
}

func filesOf(commits []changedFiles) []string {
	var all []string
	for _, c := range commits {
		all = append(append(append(all, c.Added...), c.Modified...), c.Removed...)
	}
	return sortedUnique(all)
}

func sortedUnique(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	return out[:n]
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" && v != "/" {
			out = append(out, v)
		}
	}
	return out
}
