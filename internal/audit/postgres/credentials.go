package postgres

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/object"
)

// credentials keeps a DSN's passwords out of messages. The driver's own
// messages name the user and database, not the password, but a DSN that does
// not parse is quoted whole (Go's URL parser does so), so every error the
// store returns goes through hide.
type credentials struct {
	dsn string
	// shown is the DSN as messages may show it.
	shown string
	// secrets are the passwords it holds, as written and decoded.
	secrets []string
}

// keyValuePassword finds password= and sslpassword= in a key=value DSN: a
// quoted value ('...', with \' and \\ inside) or everything to the next space.
var keyValuePassword = regexp.MustCompile(`(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

func newCredentials(dsn string) credentials {
	c := credentials{dsn: dsn}
	shown := dsn
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		// What stands before the host's last @ (a user, maybe with a
		// password) goes, whether the URL parses or not.
		shown = object.RedactedURL(dsn)
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, password, ok := strings.Cut(rest[:at], ":"); ok {
				c.add(password)
			}
		}
		if u, err := url.Parse(dsn); err == nil && scheme != "" {
			if p, ok := u.User.Password(); ok {
				c.add(p)
			}
			for _, key := range []string{"password", "sslpassword"} {
				for _, v := range u.Query()[key] {
					c.add(v)
				}
			}
		}
	}
	// key=value settings, and the same keys in a URL's query as written.
	for _, m := range keyValuePassword.FindAllStringSubmatch(dsn, -1) {
		c.add(m[2])
		if quoted, ok := strings.CutPrefix(m[2], "'"); ok {
			quoted = strings.TrimSuffix(quoted, "'")
			c.add(quoted)
			c.add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(quoted))
		}
	}
	c.shown = c.hideSecrets(keyValuePassword.ReplaceAllString(shown, "${1}REDACTED"))
	return c
}

// add is one more string to hide.
func (c *credentials) add(secret string) {
	if secret != "" && secret != "REDACTED" && !slices.Contains(c.secrets, secret) {
		c.secrets = append(c.secrets, secret)
		// The longest first, so that a password inside another is not half hidden.
		slices.SortFunc(c.secrets, func(a, b string) int { return len(b) - len(a) })
	}
}

// hide replaces the DSN and every password in text.
func (c credentials) hide(text string) string {
	return c.hideSecrets(strings.ReplaceAll(text, c.dsn, c.shown))
}

func (c credentials) hideSecrets(text string) string {
	for _, s := range c.secrets {
		text = strings.ReplaceAll(text, s, "REDACTED")
	}
	return text
}

// wrap returns err unchanged when its message shows no secret, else an error
// with the message hidden that still unwraps to err (errors.Is keeps working).
func (c credentials) wrap(err error) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); c.hide(msg) != msg {
		return &hiddenError{msg: c.hide(msg), err: err}
	}
	return err
}

// hiddenError is an error whose message had a password hidden.
type hiddenError struct {
	msg string
	err error
}

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Unwrap() error { return e.err }
