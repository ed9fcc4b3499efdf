package webhook_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// FuzzParse feeds a signed payload of any shape to every provider's reader:
// none may panic, and an event read names a repository and a full ref (or
// none).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{githubPush, giteaPush, gitlabPush, bitbucketPush, `{}`, `[]`, `null`, `{"repository":{"clone_url":""}}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		sig := sign([]byte(body))
		headersOf := map[webhook.Provider]http.Header{
			webhook.GitHub:          headers("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+sig),
			webhook.Generic:         headers("X-Hub-Signature-256", "sha256="+sig),
			webhook.Gitea:           headers("X-Gitea-Event", "push", "X-Gitea-Signature", sig),
			webhook.GitLab:          headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", string(secret)),
			webhook.BitbucketServer: headers("X-Event-Key", "repo:refs_changed", "X-Hub-Signature", "sha256="+sig),
		}
		for p, h := range headersOf {
			e, err := webhook.Parse(p, h, []byte(body), secret)
			if err != nil {
				continue
			}
			if len(e.Repositories) == 0 || e.Ref != "" && !strings.HasPrefix(e.Ref, "refs/") {
				t.Errorf("%s read %+v from %q", p, e, body)
			}
			e.Matches("https://git.internal/team/app.git", e.Ref)
			e.Touches("deploy")
		}
	})
}
