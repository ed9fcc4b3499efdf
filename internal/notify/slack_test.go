package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSlackCompatiblePayload(t *testing.T) {
	rc := newReceiver(t, nil)
	// A Mattermost-style URL: the token is the path.
	p := mustNew(t, Config{Type: Slack, Address: rc.URL + "/hooks/xqz1ab2cd3ef4gh5ij6kl7mn8o"})
	m := sample()
	m.Subject = "Fix <!channel> & ping @here"
	if err := p.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if r.Method != "POST" || r.Path != "/hooks/xqz1ab2cd3ef4gh5ij6kl7mn8o" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	var got struct {
		Text        string `json:"text"`
		Attachments []struct {
			Fallback  string `json:"fallback"`
			Color     string `json:"color"`
			Title     string `json:"title"`
			TitleLink string `json:"title_link"`
			Text      string `json:"text"`
			Fields    []struct {
				Title string `json:"title"`
				Value string `json:"value"`
				Short bool   `json:"short"`
			} `json:"fields"`
			Timestamp int64 `json:"ts"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != "SyncFailed team-a/web at 1a2b3c4" {
		t.Errorf("text %q", got.Text)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(got.Attachments))
	}
	a := got.Attachments[0]
	if a.Color != "#E01E5A" || a.Title != "team-a/web" || a.TitleLink != m.URL || a.Text != m.Summary || a.Timestamp != m.Time.Unix() {
		t.Errorf("attachment %+v", a)
	}
	fields := map[string]string{}
	for _, f := range a.Fields {
		fields[f.Title] = f.Value
	}
	want := map[string]string{
		"Project":     "team-a",
		"Revision":    "1a2b3c4 Fix &lt;!channel&gt; &amp; ping @\u2060here",
		"Author":      "Jane Doe &lt;jane@example.org&gt;",
		"Committer":   "Git Server &lt;git@example.org&gt;",
		"Approvers":   "Bob &lt;bob@example.org&gt;, Eve &lt;eve@example.org&gt;",
		"Ledger":      "#12, #13",
		"Status":      "OutOfSync, Healthy",
		"Reason":      "ApplyFailed",
		"Destination": "web",
		"Repository":  m.Repository,
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if strings.Contains(string(r.Body), "<!channel>") {
		t.Error("a commit subject wrote <!channel> into the message")
	}
}
