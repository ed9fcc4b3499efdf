package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// mailer sends mail over SMTP. TLS is required: STARTTLS on smtp://
// (submission, port 587 by default), implicit TLS on smtps:// (port 465),
// or, with Insecure, plain SMTP to a relay on the loopback interface (a
// sidecar or node-local relay), which then gets no credentials. AUTH PLAIN
// (or LOGIN, when the server offers only that) is used when a user name is
// set, and only once the connection is encrypted.
type mailer struct {
	addr        string // host:port
	endpoint    string
	implicitTLS bool
	insecure    bool
	tls         *tls.Config
	username    string
	password    string
	from        *mail.Address
	to          []*mail.Address
	timeout     time.Duration
	secrets     []string
	now         func() time.Time
}

func newSMTP(c Config, u *url.URL) (Provider, error) {
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("an smtp address is smtp://host:port or smtps://host:port, without a path or query")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
	}
	if c.Insecure {
		if u.Scheme == "smtps" {
			return nil, errors.New("insecure is for plain smtp:// to a local relay; smtps:// is always TLS")
		}
		if !isLoopback(host) {
			return nil, errors.New("insecure (no TLS) is allowed only for a relay on the loopback interface (localhost, 127.0.0.1, ::1)")
		}
		if c.Username != "" || c.Password != "" {
			return nil, errors.New("credentials are never sent without TLS: insecure and a username cannot go together")
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return nil, errors.New("username and password go together")
	}
	from, to, err := checkMailboxes(c.From, c.To)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	m := &mailer{
		addr:        net.JoinHostPort(host, port),
		endpoint:    endpoint(u),
		implicitTLS: u.Scheme == "smtps",
		insecure:    c.Insecure,
		tls:         &tls.Config{ServerName: host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
		username:    c.Username,
		password:    c.Password,
		from:        from,
		to:          to,
		timeout:     timeout,
		now:         c.now(),
	}
	if c.Password != "" {
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + c.Username + "\x00" + c.Password))
		m.secrets = []string{plain, base64.StdEncoding.EncodeToString([]byte(c.Password)), c.Password}
	}
	return m, nil
}

// checkMailboxes parses the sender and the recipients: one address each,
// no display-name tricks, no line breaks.
func checkMailboxes(from string, to []string) (*mail.Address, []*mail.Address, error) {
	parse := func(role, s string) (*mail.Address, error) {
		switch {
		case len(s) > maxMailbox:
			return nil, fmt.Errorf("the %s address is longer than %d bytes", role, maxMailbox)
		case hasControl(s):
			return nil, fmt.Errorf("the %s address contains a control character (a line break?)", role)
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("the %s address %q: %w", role, clip(s), err)
		}
		return a, nil
	}
	if from == "" {
		return nil, nil, errors.New("from is missing")
	}
	if len(to) == 0 {
		return nil, nil, errors.New("to is missing: name at least one recipient")
	}
	if len(to) > maxRecipients {
		return nil, nil, fmt.Errorf("%d recipients, more than %d: use a mailing list", len(to), maxRecipients)
	}
	f, err := parse("from", from)
	if err != nil {
		return nil, nil, err
	}
	recipients := make([]*mail.Address, len(to))
	for i, s := range to {
		if recipients[i], err = parse("to", s); err != nil {
			return nil, nil, err
		}
	}
	return f, recipients, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers the message as one mail to every recipient. The whole
// conversation ends when ctx does or after the timeout: a server that
// stops answering half-way is cut off.
func (s *mailer) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msg, err := composeMail(s.from, s.to, m, s.now())
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", SMTP, s.endpoint, err)}
	}
	if err := s.deliver(ctx, msg); err != nil {
		return s.classify(ctx, err)
	}
	return nil
}

func (s *mailer) deliver(ctx context.Context, msg []byte) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	// go-smtp's client reads with its own long timeouts; closing the
	// connection is what ends a conversation when ctx does.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	var c *gosmtp.Client
	if s.implicitTLS || s.insecure {
		c = gosmtp.NewClient(conn)
	} else if c, err = gosmtp.NewClientStartTLS(conn, s.tls); err != nil {
		// go-smtp says so only in its error's text.
		if strings.Contains(err.Error(), "support STARTTLS") {
			return errNoStartTLS
		}
		return err
	}
	defer c.Close()
	if s.username != "" {
		if _, ok := c.TLSConnectionState(); !ok {
			return errUnencrypted
		}
		if err := c.Auth(s.saslClient(c)); err != nil {
			return fmt.Errorf("logging in: %w", err)
		}
	}
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.Address
	}
	if err := c.SendMail(s.from.Address, to, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func (s *mailer) dial(ctx context.Context) (net.Conn, error) {
	if s.implicitTLS {
		return (&tls.Dialer{Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

// Failures of the TLS the mailer requires.
var (
	errNoStartTLS  = errors.New("the server does not offer STARTTLS: use smtps:// if it speaks implicit TLS (set insecure only for a relay on localhost)")
	errUnencrypted = errors.New("refusing to send credentials over an unencrypted connection")
)

// saslClient is AUTH PLAIN, or LOGIN for a server that offers only that.
func (s *mailer) saslClient(c *gosmtp.Client) sasl.Client {
	if !c.SupportsAuth(sasl.Plain) && c.SupportsAuth(sasl.Login) {
		return sasl.NewLoginClient(s.username, s.password)
	}
	return sasl.NewPlainClient("", s.username, s.password)
}

// classify tells an SMTP failure that may pass (a 4xx reply, a timeout, a
// connection refused or cut) from one that will not (a 5xx reply, a
// certificate that does not verify, no STARTTLS, no TLS for credentials).
func (s *mailer) classify(ctx context.Context, err error) *DeliveryError {
	retry := true
	var (
		reply      *gosmtp.SMTPError
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyFail *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &reply):
		retry = reply.Temporary()
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verifyFail),
		errors.Is(err, errNoStartTLS), errors.Is(err, errUnencrypted):
		retry = false
	}
	msg := err.Error()
	for _, secret := range s.secrets {
		msg = strings.ReplaceAll(msg, secret, redactedMarker)
	}
	return &DeliveryError{Retry: retry, Err: &redactedError{msg: fmt.Sprintf("%s %s: %s", SMTP, s.endpoint, msg), err: err}}
}

// redactedError shows a message with secrets removed and keeps the cause
// for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
