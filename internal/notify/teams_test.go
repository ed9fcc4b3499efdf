package notify

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTeamsAdaptiveCard(t *testing.T) {
	rc := newReceiver(t, nil)
	p := mustNew(t, Config{Type: Teams, Address: rc.URL + "/workflows/abc123def456/triggers/manual/paths/invoke?api-version=1&sig=SIGSECRET99"})
	if err := p.Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	var got struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string  `json:"contentType"`
			ContentURL  *string `json:"contentUrl"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Color string `json:"color"`
					Facts []struct {
						Title string `json:"title"`
						Value string `json:"value"`
					} `json:"facts"`
				} `json:"body"`
				Actions []struct {
					Type, Title, URL string
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "message" || len(got.Attachments) != 1 {
		t.Fatalf("envelope %+v", got)
	}
	a := got.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.ContentURL != nil {
		t.Errorf("attachment contentType %q contentUrl %v", a.ContentType, a.ContentURL)
	}
	c := a.Content
	if c.Type != "AdaptiveCard" || c.Version != "1.4" || c.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("card %s %s %s", c.Type, c.Version, c.Schema)
	}
	if len(c.Body) != 3 {
		t.Fatalf("card body has %d elements, want headline, summary, facts", len(c.Body))
	}
	if c.Body[0].Text != "SyncFailed team-a/web at 1a2b3c4" || c.Body[0].Color != "Attention" {
		t.Errorf("headline %+v", c.Body[0])
	}
	if c.Body[1].Text != sample().Summary {
		t.Errorf("summary %q", c.Body[1].Text)
	}
	facts := map[string]string{}
	for _, f := range c.Body[2].Facts {
		facts[f.Title] = f.Value
	}
	for k, v := range map[string]string{"Application": "team-a/web", "Revision": "1a2b3c4 Bump the image", "Ledger": "#12, #13", "Approvers": "Bob <bob@example.org>, Eve <eve@example.org>"} {
		if facts[k] != v {
			t.Errorf("fact %s = %q, want %q", k, facts[k], v)
		}
	}
	wantAction := []struct{ Type, Title, URL string }{{"Action.OpenUrl", "Open in Lockstep", sample().URL}}
	if diff := cmp.Diff(wantAction, c.Actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}
