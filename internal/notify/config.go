package notify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Type is a kind of receiver, spelled as users write it in a Notification's
// spec.type.
type Type string

// The receivers this file's New builds (commit statuses are built apart).
const (
	Webhook      Type = "webhook"      // JSON of the message: WebhookPayload
	WebhookHMAC  Type = "webhook-hmac" // the same, signed with HMAC-SHA256
	Slack        Type = "slack"        // Slack-compatible incoming webhook: Mattermost, Rocket.Chat
	Matrix       Type = "matrix"       // Matrix client-server API, one room
	Teams        Type = "teams"        // Microsoft Teams-compatible webhook (Workflows): an Adaptive Card
	SMTP         Type = "smtp"         // mail over SMTP with STARTTLS or implicit TLS
	Alertmanager Type = "alertmanager" // Prometheus Alertmanager's API v2: fires and resolves alerts
)

// Types lists them, for validation and help texts.
var Types = []Type{Webhook, WebhookHMAC, Slack, Matrix, Teams, SMTP, Alertmanager}

// Config describes one receiver. Fields a Type does not use are ignored,
// except Room, From and To, which name a receiver of another type and so
// are refused where they do not belong.
type Config struct {
	Type Type
	// Address is the receiver's URL: the webhook's URL, the Matrix
	// homeserver, smtp://host:587 (STARTTLS) or smtps://host:465 (implicit
	// TLS), or the Alertmanager. Errors and logs name only its scheme and
	// host: Slack, Teams and Mattermost URLs carry a token in their path.
	Address string
	// Token is the Matrix access token; for webhook, webhook-hmac and
	// alertmanager it is sent as a bearer token when set.
	Token string
	// Username and Password log in to the SMTP server; for webhook,
	// webhook-hmac and alertmanager they are sent as HTTP basic auth.
	Username, Password string
	// HMACKey signs webhook-hmac requests (at least 16 bytes).
	HMACKey []byte
	// From and To are the mail's sender and recipients (smtp).
	From string
	To   []string
	// Room is the Matrix room ID (!abc:example.org; an alias #room:server
	// is not resolved).
	Room string
	// RootCAs are the CAs the receiver's certificate must chain to (an
	// internal CA); nil trusts the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one request (DefaultTimeout when 0). The dispatcher's
	// per-attempt timeout also bounds it.
	Timeout time.Duration
	// Insecure lets credentials travel without TLS: a token or basic auth
	// over http://, and for smtp a relay on the loopback interface that
	// offers no STARTTLS (mail only: SMTP credentials are never sent
	// without TLS, and smtp to any other host requires TLS).
	Insecure bool
	// AlertTTL is how long an Alertmanager alert stays firing when nothing
	// resolves it (DefaultAlertTTL when 0). See alertmanager.go.
	AlertTTL time.Duration
	// Now is the clock (time.Now when nil): signatures' timestamps,
	// Retry-After dates and alert times read it.
	Now func() time.Time
}

// Defaults and limits of a Config.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultAlertTTL = 24 * time.Hour
	maxTimeout      = 5 * time.Minute
	maxAddress      = 2048 // as the Notification CRD allows
	maxCredential   = 8192 // tokens (JWTs included) are far shorter
	maxRoom         = 255  // Matrix's limit on identifiers
	maxMailbox      = 320  // RFC 3696: 64 local + @ + 255 domain
	maxRecipients   = 50   // as the Notification CRD allows
	minHMACKey      = 16
)

// builders make each Type's Provider from a checked Config and its
// parsed address.
var builders = map[Type]func(c Config, u *url.URL) (Provider, error){
	Webhook:      newWebhook,
	WebhookHMAC:  newWebhook,
	Slack:        newSlack,
	Matrix:       newMatrix,
	Teams:        newTeams,
	SMTP:         newSMTP,
	Alertmanager: newAlertmanager,
}

// New checks c and returns the Provider it describes. Its errors never
// repeat the address, a token, a password or the key.
func New(c Config) (Provider, error) {
	build, ok := builders[c.Type]
	if !ok {
		return nil, fmt.Errorf("unknown receiver type %q: one of %s", clip(c.Type), joinTypes())
	}
	u, err := c.check()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Type, err)
	}
	p, err := build(c, u)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.Type, endpoint(u), err)
	}
	return p, nil
}

// check validates what every Type shares and parses the address.
func (c Config) check() (*url.URL, error) {
	if c.Timeout < 0 || c.Timeout > maxTimeout {
		return nil, fmt.Errorf("timeout %s is not between 0 and %s", c.Timeout, maxTimeout)
	}
	if c.AlertTTL < 0 {
		return nil, fmt.Errorf("alert TTL %s is negative", c.AlertTTL)
	}
	for name, v := range map[string]string{"token": c.Token, "username": c.Username, "password": c.Password} {
		if len(v) > maxCredential {
			return nil, fmt.Errorf("the %s is longer than %d bytes", name, maxCredential)
		}
		if hasControl(v) {
			// It would go into a header or an SMTP command line.
			return nil, fmt.Errorf("the %s contains a control character (a line break?)", name)
		}
	}
	if c.Room != "" && c.Type != Matrix {
		return nil, errors.New("room is for matrix receivers only")
	}
	if (c.From != "" || len(c.To) > 0) && c.Type != SMTP {
		return nil, errors.New("from and to are for smtp receivers only")
	}
	return parseAddress(c.Address, c.Type)
}

// parseAddress parses a receiver's URL. Its errors never quote it.
func parseAddress(raw string, t Type) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, errors.New("the address is missing")
	case len(raw) > maxAddress:
		return nil, fmt.Errorf("the address is longer than %d bytes", maxAddress)
	case hasControl(raw) || strings.ContainsAny(raw, " \t"):
		return nil, errors.New("the address contains a space or a control character")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error quotes the whole URL, token and all: keep only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("the address is not a URL: %w", err)
	}
	schemes := []string{"http", "https"}
	if t == SMTP {
		schemes = []string{"smtp", "smtps"}
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, fmt.Errorf("the address's scheme is %q, not %s", clip(u.Scheme), strings.Join(schemes, " or "))
	}
	if u.Hostname() == "" {
		return nil, errors.New("the address has no host")
	}
	if u.User != nil {
		return nil, errors.New("the address carries a user name or password: give them as username and password")
	}
	if u.Fragment != "" {
		return nil, errors.New("the address has a #fragment, which is never sent")
	}
	return u, nil
}

// endpoint is the part of an address that errors and logs may name.
func endpoint(u *url.URL) string { return u.Scheme + "://" + u.Host }

// hasControl reports whether s holds a control character: in a header or
// an SMTP line, CR and LF would start a new one.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

// clip shortens a value quoted in an error, so that a huge input does not
// make a huge message.
func clip[S ~string](s S) string {
	const max = 64
	if len(s) <= max {
		return string(s)
	}
	return strings.ToValidUTF8(string(s[:max]), "") + "…"
}

func joinTypes() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// now is c's clock.
func (c Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}
