package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// slackPayload is a Slack incoming webhook's message, which Mattermost and
// Rocket.Chat take as well: a line of text and one attachment with a
// coloured border, a title linking to Lockstep's page, the summary and
// the details as fields.
type slackPayload struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Fallback  string       `json:"fallback"`
	Color     string       `json:"color"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link,omitempty"`
	Text      string       `json:"text,omitempty"`
	Fields    []slackField `json:"fields"`
	Footer    string       `json:"footer"`
	Timestamp int64        `json:"ts,omitempty"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// severityColors are the attachment borders (and the Teams card's accent).
var severityColors = map[Severity]string{Info: "#2EB67D", Warning: "#ECB22E", Error: "#E01E5A"}

type slack struct {
	http    *httpSender
	address string
}

func newSlack(c Config, u *url.URL) (Provider, error) {
	h, err := newHTTPSender(c, u)
	if err != nil {
		return nil, err
	}
	return &slack{http: h, address: u.String()}, nil
}

// Send POSTs the message to the incoming webhook.
func (s *slack) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(newSlackPayload(m))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", s.http.kind, s.http.endpoint, err)}
	}
	return s.http.send(ctx, http.MethodPost, s.address, body, nil)
}

func newSlackPayload(m Message) slackPayload {
	color, ok := severityColors[m.Severity]
	if !ok {
		color = severityColors[Info]
	}
	a := slackAttachment{
		Fallback:  slackEscape(headline(m) + ": " + summary(m)),
		Color:     color,
		Title:     slackEscape(m.Application),
		TitleLink: m.URL,
		Text:      slackEscape(summary(m)),
		Fields:    []slackField{},
		Footer:    "Lockstep",
	}
	if !m.Time.IsZero() {
		a.Timestamp = m.Time.Unix()
	}
	for _, f := range facts(m) {
		if f.Name == "Application" {
			continue // the title
		}
		a.Fields = append(a.Fields, slackField{Title: f.Name, Value: slackEscape(f.Value), Short: len(f.Value) <= 40})
	}
	return slackPayload{Text: slackEscape(headline(m)), Attachments: []slackAttachment{a}}
}

// broadcastMention matches the mentions that notify a whole channel in
// Mattermost and Rocket.Chat (Slack's <!channel> cannot survive escaping).
var broadcastMention = regexp.MustCompile(`(?i)@(channel|here|all|everyone)\b`)

// slackEscape makes a value text, never markup: Slack requires &, < and >
// escaped (Mattermost and Rocket.Chat translate them back), which also
// keeps a commit subject from writing <!channel> or a link; and a word
// joiner after the @ of @channel, @here, @all keeps it from paging a
// whole channel.
func slackEscape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	return broadcastMention.ReplaceAllString(s, "@\u2060$1")
}
