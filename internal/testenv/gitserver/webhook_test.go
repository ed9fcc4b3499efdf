package gitserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// Every push, from git over HTTPS or a Commit or Tag made here, sends Gitea's
// signed push event, which Lockstep's own parser reads back: the ref, the new
// commit and the files changed.
func TestPushSendsASignedGiteaEvent(t *testing.T) {
	f := newFixture(t)
	secret := []byte("a webhook secret of some length")
	events := make(chan webhook.Event, 10)
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e, err := webhook.Parse(webhook.Gitea, r.Header, body, secret)
		if err != nil {
			t.Errorf("the event does not parse: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events <- e
	}))
	defer receiver.Close()
	f.server.AddWebhook(gitserver.Webhook{URL: receiver.URL, Secret: secret, RootCAs: receiver.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	next := func(what string) webhook.Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for %s", what)
			return webhook.Event{}
		}
	}

	// git push over HTTPS.
	env := []string{"GIT_SSL_CAINFO=" + f.server.CAFile}
	dir := t.TempDir()
	mustGit(t, dir, env, "clone", withCredentials(f.server.HTTPSURL("team/app"), "writer", writerPassword), "app")
	work := filepath.Join(dir, "app")
	if err := os.WriteFile(filepath.Join(work, "deploy", "app.yaml"), []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, nil, "commit", "-am", "change the app")
	mustGit(t, work, env, "push", "origin", "HEAD:main")
	pushed := strings.TrimSpace(mustGit(t, work, nil, "rev-parse", "HEAD"))
	e := next("git push")
	if e.Ref != "refs/heads/main" || e.Commit != pushed || !slices.Contains(e.Repositories, f.server.HTTPSURL("team/app")) {
		t.Errorf("git push: event %+v, want main at %s", e, pushed)
	}
	if diff := cmp.Diff([]string{"deploy/app.yaml"}, e.Files); diff != "" {
		t.Errorf("git push: files (-want +got):\n%s", diff)
	}

	// A commit made here, and a tag.
	h, err := f.repo.Commit(gitserver.CommitOptions{Message: "more", Files: map[string][]byte{"other/x.yaml": []byte("kind: ConfigMap\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if e := next("Commit"); e.Commit != h || !slices.Equal(e.Files, []string{"other/x.yaml"}) {
		t.Errorf("Commit: event %+v, want %s changing other/x.yaml", e, h)
	}
	if err := f.repo.Tag("v1.0.0", h, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := next("Tag"); e.Ref != "refs/tags/v1.0.0" || e.Files != nil {
		t.Errorf("Tag: event %+v, want refs/tags/v1.0.0 listing no files", e)
	}
}
