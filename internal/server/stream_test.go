package server_test

import (
	"bufio"
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
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
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
