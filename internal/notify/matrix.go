package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// matrixEvent is the m.room.message event sent: an m.notice (bots' messages,
// which clients do not answer and bridges do not relay as people's), with
// the text as plain text and as HTML.
type matrixEvent struct {
	MsgType       string `json:"msgtype"` // "m.notice"
	Body          string `json:"body"`
	Format        string `json:"format"` // "org.matrix.custom.html"
	FormattedBody string `json:"formatted_body"`
}

type matrix struct {
	http *httpSender
	// base is the homeserver's URL without a trailing slash; room the room
	// ID as given.
	base, room string
}

func newMatrix(c Config, u *url.URL) (Provider, error) {
	switch {
	case c.Token == "":
		return nil, errors.New("the access token is missing")
	case c.Room == "":
		return nil, errors.New("the room is missing")
	case strings.HasPrefix(c.Room, "#"):
		return nil, errors.New("the room is an alias (#…), which is not resolved: give the room's ID (!…), shown in the room's settings")
	case !strings.HasPrefix(c.Room, "!"):
		return nil, fmt.Errorf("the room %q is not a room ID: room IDs start with \"!\"", clip(c.Room))
	case len(c.Room) > maxRoom:
		return nil, fmt.Errorf("the room ID is longer than %d bytes", maxRoom)
	case hasControl(c.Room) || strings.ContainsAny(c.Room, " /"):
		return nil, errors.New("the room ID contains a space, a slash or a control character")
	}
	h, err := newHTTPSender(c, u)
	if err != nil {
		return nil, err
	}
	h.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+c.Token) }
	h.bodyRetryAfter = matrixRetryAfter
	base := *u
	base.RawQuery = ""
	return &matrix{http: h, base: strings.TrimSuffix(base.String(), "/"), room: c.Room}, nil
}

// Send PUTs the message into the room:
//
//	PUT {homeserver}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}
//	Authorization: Bearer <token>
//
// txnId is the same for every try of one message, so that a homeserver
// that stored the event before the answer was lost returns it again
// instead of posting it twice.
func (x *matrix) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(matrixEvent{
		MsgType: "m.notice", Body: plainText(m),
		Format: "org.matrix.custom.html", FormattedBody: matrixHTML(m),
	})
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", x.http.kind, x.http.endpoint, err)}
	}
	target := x.base + "/_matrix/client/v3/rooms/" + escapeSegment(x.room) +
		"/send/m.room.message/" + matrixTxnID(x.room, m)
	return x.http.send(ctx, http.MethodPut, target, body, nil)
}

// matrixTxnID is the transaction ID of m in room. Homeservers remember
// transaction IDs per access token (and endpoint); the room is part of it
// so that one token posting one message to two rooms posts it twice.
func matrixTxnID(room string, m Message) string {
	sum := sha256.Sum256([]byte(room + "\x00" + messageID(m)))
	return "lockstep-" + hex.EncodeToString(sum[:16])
}

// matrixHTML is the message as the HTML subset Matrix clients render;
// every value is escaped.
func matrixHTML(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p><strong>%s</strong></p>", html.EscapeString(headline(m)))
	if s := summary(m); s != "" {
		fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(s))
	}
	if fs := facts(m); len(fs) > 0 {
		b.WriteString("<ul>")
		for _, f := range fs {
			fmt.Fprintf(&b, "<li><strong>%s</strong>: %s</li>", html.EscapeString(f.Name), html.EscapeString(f.Value))
		}
		b.WriteString("</ul>")
	}
	if m.URL != "" {
		fmt.Fprintf(&b, `<p><a href="%s">Open in Lockstep</a></p>`, html.EscapeString(m.URL))
	}
	return b.String()
}

// matrixRetryAfter reads the wait a homeserver asks for in its
// M_LIMIT_EXCEEDED answer when it sends no Retry-After header.
func matrixRetryAfter(body []byte) time.Duration {
	var e struct {
		RetryAfterMS int64 `json:"retry_after_ms"`
	}
	if json.Unmarshal(body, &e) != nil || e.RetryAfterMS <= 0 {
		return 0
	}
	return min(time.Duration(e.RetryAfterMS)*time.Millisecond, maxRetryAfter)
}

// escapeSegment percent-encodes everything but unreserved characters, as
// the Matrix specification's examples do (!room:server becomes
// %21room%3Aserver); url.PathEscape would leave the colon.
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
