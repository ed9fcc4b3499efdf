package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// teamsPayload is what a Microsoft Teams Workflows webhook ("Send webhook
// alerts to a channel", or "When a Teams webhook request is received"
// followed by "Post card in a chat or channel") takes: a message whose
// one attachment is an Adaptive Card.
type teamsPayload struct {
	Type        string            `json:"type"` // "message"
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"` // "application/vnd.microsoft.card.adaptive"
	ContentURL  *string      `json:"contentUrl"`  // null, as Teams' examples send it
	Content     adaptiveCard `json:"content"`
}

// adaptiveCard is an Adaptive Card of schema 1.4, which Teams renders on
// every client (1.5 features are not used).
type adaptiveCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"` // "AdaptiveCard"
	Version string         `json:"version"`
	Body    []cardElement  `json:"body"`
	Actions []cardAction   `json:"actions,omitempty"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// cardElement is a TextBlock or a FactSet.
type cardElement struct {
	Type   string     `json:"type"`
	Text   string     `json:"text,omitempty"`
	Weight string     `json:"weight,omitempty"`
	Size   string     `json:"size,omitempty"`
	Color  string     `json:"color,omitempty"`
	Wrap   bool       `json:"wrap,omitempty"`
	Facts  []cardFact `json:"facts,omitempty"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type cardAction struct {
	Type  string `json:"type"` // "Action.OpenUrl"
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsColors are the headline's colour by severity (Adaptive Card names).
var teamsColors = map[Severity]string{Info: "Good", Warning: "Warning", Error: "Attention"}

type teams struct {
	http    *httpSender
	address string
}

func newTeams(c Config, u *url.URL) (Provider, error) {
	h, err := newHTTPSender(c, u)
	if err != nil {
		return nil, err
	}
	return &teams{http: h, address: u.String()}, nil
}

// Send POSTs the message as an Adaptive Card. A Workflows webhook answers
// 202 Accepted before it posts: a flow that fails afterwards is seen in
// the flow's run history, not here.
func (t *teams) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(newTeamsPayload(m))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", t.http.kind, t.http.endpoint, err)}
	}
	return t.http.send(ctx, http.MethodPost, t.address, body, nil)
}

func newTeamsPayload(m Message) teamsPayload {
	card := adaptiveCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		MSTeams: map[string]any{"width": "Full"},
		Body: []cardElement{{
			Type: "TextBlock", Text: headline(m), Weight: "Bolder", Size: "Medium",
			Color: teamsColors[m.Severity], Wrap: true,
		}},
	}
	if s := summary(m); s != "" {
		card.Body = append(card.Body, cardElement{Type: "TextBlock", Text: s, Wrap: true})
	}
	set := cardElement{Type: "FactSet"}
	for _, f := range facts(m) {
		set.Facts = append(set.Facts, cardFact{Title: f.Name, Value: f.Value})
	}
	if len(set.Facts) > 0 {
		card.Body = append(card.Body, set)
	}
	if m.URL != "" {
		card.Actions = []cardAction{{Type: "Action.OpenUrl", Title: "Open in Lockstep", URL: m.URL}}
	}
	return teamsPayload{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	}
}
