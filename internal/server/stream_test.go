package server_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// readEvents reads server-sent events until n have come or the time is up.
func readEvents(t *testing.T, resp *http.Response, n int) []string {
	t.Helper()
	var events []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		var cur string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				cur = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && cur != "":
				events = append(events, cur+" "+strings.TrimPrefix(line, "data: "))
				cur = ""
				if len(events) == n {
					return
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		resp.Body.Close()
		<-done
	}
	return events
}

func openStream(t *testing.T, f *apiFixture, path, cred string) *http.Response {
	t.Helper()
	resp := openAs(t, f, path, cred)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

func TestLiveStreamsShowOnlyWhatTheCallerMaySee(t *testing.T) {
	hub := server.NewHub()
	f := newAPIWith(t, func(d *server.Deps) { d.Hub = hub })
	dev := f.as(t, "dev")
	list := openStream(t, f, server.PathStream+"/applications?project=team-a", dev)
	one := openStream(t, f, server.PathStream+"/applications/team/web", dev)
	time.Sleep(100 * time.Millisecond)                                          // both subscribed
	hub.Publish(app("sec", "vault", "secret", v1.OutOfSync, "Degraded"), false) // hidden from dev
	hub.Publish(app("other", "x", "", v1.Synced, "Healthy"), false)             // not team-a
	hub.Publish(app("team", "api", "team-a", v1.OutOfSync, "Degraded"), false)
	hub.Publish(app("team", "web", "team-a", v1.Synced, "Healthy"), true)
	got := readEvents(t, list, 2)
	if len(got) != 2 || !strings.HasPrefix(got[0], `upsert {"namespace":"team","name":"api"`) || !strings.HasPrefix(got[1], `delete {"namespace":"team","name":"web"`) {
		t.Errorf("the list stream: %q", got)
	}
	if got := readEvents(t, one, 1); len(got) != 1 || !strings.HasPrefix(got[0], "delete ") || !strings.Contains(got[0], `"name":"web"`) {
		t.Errorf("the Application's stream: %q", got)
	}
	if code, _ := f.do(t, http.MethodGet, server.PathStream+"/applications/sec/vault", dev, nil); code != http.StatusNotFound {
		t.Errorf("a stream of a hidden Application: %d", code)
	}
}

func TestASlowStreamIsCutOffNotWaitedFor(t *testing.T) {
	hub := server.NewHub()
	f := newAPIWith(t, func(d *server.Deps) { d.Hub = hub })
	resp := openStream(t, f, server.PathStream+"/applications", f.as(t, "viewer"))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	for range 5000 { // nobody reads: the stream's buffer overflows
		hub.Publish(app("team", "web", "team-a", v1.Synced, strings.Repeat("x", 2000)), false)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("publishing to a stuck stream took %s", d)
	}
	events := readEvents(t, resp, 1000)
	if len(events) == 0 || !strings.HasPrefix(events[len(events)-1], "reset ") {
		t.Errorf("the overflowed stream did not end with a reset: %d events, last %.80q", len(events), events[len(events)-1:])
	}
}

// A row that moves out of the caller's sight is deleted from their list.
func TestARowThatBecomesHiddenIsDeleted(t *testing.T) {
	hub := server.NewHub()
	f := newAPIWith(t, func(d *server.Deps) { d.Hub = hub })
	list := openStream(t, f, server.PathStream+"/applications", f.as(t, "dev"))
	time.Sleep(100 * time.Millisecond)
	hub.Publish(app("team", "api", "team-a", v1.Synced, "Healthy"), false)
	hub.Publish(app("team", "api", "secret", v1.Synced, "Healthy"), false) // moved to a Project dev may not see
	got := readEvents(t, list, 2)
	if len(got) != 2 || !strings.HasPrefix(got[1], `delete {"namespace":"team","name":"api"`) || strings.Contains(got[1], "secret") {
		t.Errorf("events %q; want the row deleted, naming nothing of where it went", got)
	}
}

// Every answer that stays open (live updates, a followed log) rechecks its
// caller: logout, revocation and a changed password end it within the
// recheck, as they end every other use of the credential; a followed log
// ends too when the policy takes the Application's logs away.
func TestOpenStreamsEndWhenTheCallerNoLongerHolds(t *testing.T) {
	defer server.SetRecheck(20 * time.Millisecond)()
	const (
		live     = server.PathStream + "/applications"
		followed = server.PathApplications + "/team/web/logs?pod=web-1&follow=true"
	)
	for _, tc := range []struct {
		name, path string
		token      bool // the stream is opened with an API token of dev's, else a session
		then       func(t *testing.T, f *apiFixture, cred, tokenID string)
		reopen     int // the answer to opening it again; 200: it stays open
	}{
		{"live updates, logged out", live, false, logout, http.StatusUnauthorized},
		{"live updates, the token revoked", live, true, revoke, http.StatusUnauthorized},
		{"a followed log, logged out", followed, false, logout, http.StatusUnauthorized},
		{"a followed log, the token revoked", followed, true, revoke, http.StatusUnauthorized},
		{"a followed log, the password changed", followed, false, changePassword, http.StatusUnauthorized},
		{"a followed log, the policy takes logs away", followed, false, denyLogs, http.StatusForbidden},
		{"a followed log, another session logged out", followed, false, func(t *testing.T, f *apiFixture, _, _ string) {
			logout(t, f, f.as(t, "dev"), "")
		}, http.StatusOK},
		{"a followed log, nothing changed", followed, false, func(*testing.T, *apiFixture, string, string) {}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newClusterAPI(t)
			cred, tokenID := f.as(t, "dev"), ""
			if tc.token {
				tok := newToken(t, f, cred, "ci")
				cred, tokenID = tok.Token, tok.Info.ID
			}
			resp := openAs(t, f, tc.path, cred)
			r := bufio.NewReader(resp.Body)
			if first, err := r.ReadString('\n'); err != nil { // the stream has begun
				t.Fatalf("the stream's first line: %q %v", first, err)
			}
			tc.then(t, f, cred, tokenID)
			rest := make(chan string, 1)
			go func() { b, _ := io.ReadAll(r); rest <- string(b) }()
			select {
			case got := <-rest:
				if tc.reopen == http.StatusOK {
					t.Errorf("the stream ended: %q", got)
				}
				if tc.path == live && !strings.Contains(got, "event: end") {
					t.Errorf("live updates ended without an end event: %q", got)
				}
			case <-time.After(time.Second): // 50 rechecks
				if tc.reopen != http.StatusOK {
					t.Errorf("the stream is still open")
				}
			}
			resp.Body.Close()
			again := openAs(t, f, tc.path, cred)
			again.Body.Close()
			if again.StatusCode != tc.reopen {
				t.Errorf("opening it again: %d; want %d", again.StatusCode, tc.reopen)
			}
		})
	}
}

// openAs opens path with cred, without judging the answer; the body is
// closed when the test ends.
func openAs(t *testing.T, f *apiFixture, path, cred string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func logout(t *testing.T, f *apiFixture, cred, _ string) {
	if code, body := f.do(t, http.MethodDelete, server.PathSession, cred, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
}

func revoke(t *testing.T, f *apiFixture, _, tokenID string) {
	if code, body := f.do(t, http.MethodDelete, server.PathTokens+"/"+tokenID, f.as(t, "admin"), nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, body)
	}
}

func changePassword(t *testing.T, f *apiFixture, _, _ string) {
	if code, body := f.do(t, http.MethodPut, server.PathAccounts+"/dev/password", f.as(t, "admin"), server.PasswordChange{New: "another long password"}); code != http.StatusNoContent {
		t.Fatalf("set the password: %d %s", code, body)
	}
}

func denyLogs(t *testing.T, f *apiFixture, _, _ string) {
	if err := f.policy.Load(map[string]string{"policy.csv": testPolicy + "p, dev, logs, get, *, deny\n"}); err != nil {
		t.Fatal(err)
	}
}
