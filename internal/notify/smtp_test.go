package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/testenv/mailserver"
)

// mailbox is a real SMTP server (internal/testenv/mailserver) and what it got.
type mailbox = mailserver.Server

type smtpServer struct {
	tls               *tls.Config // offers STARTTLS when set
	implicitTLS       bool
	allowInsecureAuth bool
	rcptErr           error
}

const (
	smtpUser     = mailserver.Username
	smtpPassword = mailserver.Password
)

func startSMTP(t *testing.T, opts smtpServer) *mailbox {
	t.Helper()
	return mailserver.Start(t, mailserver.Options{TLS: opts.tls, ImplicitTLS: opts.implicitTLS,
		AllowInsecureAuth: opts.allowInsecureAuth, RcptErr: opts.rcptErr})
}

// mailConfig is a receiver sending to box.
func mailConfig(box *mailbox, scheme string) Config {
	return Config{
		Type: SMTP, Address: scheme + "://" + box.Addr,
		From: "Lockstep <lockstep@example.org>", To: []string{"ops@example.org", "Dev Team <dev@example.org>"},
		Username: smtpUser, Password: smtpPassword, Now: fixedClock,
	}
}

func serverTLS(t *testing.T) (*tls.Config, Config) {
	pool, cert := testCA(t)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, Config{RootCAs: pool}
}

func TestSMTPDeliversOverSTARTTLSWithAuth(t *testing.T) {
	srvTLS, ca := serverTLS(t)
	box := startSMTP(t, smtpServer{tls: srvTLS})
	c := mailConfig(box, "smtp")
	c.RootCAs = ca.RootCAs
	if err := mustNew(t, c).Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	mails, auths := box.Got()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	got := mails[0]
	if !got.TLS || got.User != smtpUser || !slices.Equal(auths, []string{smtpUser}) {
		t.Errorf("TLS %v, logged in as %q (tries %v)", got.TLS, got.User, auths)
	}
	if got.From != "lockstep@example.org" || !slices.Equal(got.To, []string{"ops@example.org", "dev@example.org"}) {
		t.Errorf("envelope from %q to %v", got.From, got.To)
	}
	msg := readMail(t, got.Data)
	for k, want := range map[string]string{
		"From":           `"Lockstep" <lockstep@example.org>`,
		"To":             `<ops@example.org>, "Dev Team" <dev@example.org>`,
		"Subject":        "[Lockstep] SyncFailed team-a/web at 1a2b3c4",
		"Date":           fixedClock().Format(time.RFC1123Z),
		"Message-Id":     "<" + messageID(sample()) + "@example.org>",
		"Content-Type":   "text/plain; charset=utf-8",
		"Auto-Submitted": "auto-generated",
	} {
		if v := decodeHeader(t, msg.Header.Get(k)); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	body := mailBody(t, msg)
	for _, want := range []string{
		"SyncFailed team-a/web at 1a2b3c4\n", sample().Summary, "Revision: 1a2b3c4 Bump the image",
		"Author: Jane Doe <jane@example.org>", "Approvers: Bob <bob@example.org>, Eve <eve@example.org>",
		"Ledger: #12, #13", sample().URL,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the body lacks %q:\n%s", want, body)
		}
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srvTLS, ca := serverTLS(t)
	box := startSMTP(t, smtpServer{tls: srvTLS, implicitTLS: true})
	c := mailConfig(box, "smtps")
	c.RootCAs = ca.RootCAs
	if err := mustNew(t, c).Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	if mails, _ := box.Got(); len(mails) != 1 || !mails[0].TLS || mails[0].User != smtpUser {
		t.Fatalf("mails %+v", mails)
	}
}

// A server without STARTTLS (or a man in the middle stripping it) never
// sees the credentials, even one that would take them in plain text.
func TestSMTPRefusesToLogInWithoutTLS(t *testing.T) {
	box := startSMTP(t, smtpServer{allowInsecureAuth: true})
	err := mustNew(t, mailConfig(box, "smtp")).Send(t.Context(), sample())
	de := deliveryError(t, err)
	if de.Retry || !strings.Contains(de.Error(), "STARTTLS") {
		t.Errorf("error %v (retry %v), want no STARTTLS, not retried", de, de.Retry)
	}
	if mails, auths := box.Got(); len(mails) != 0 || len(auths) != 0 {
		t.Errorf("the server got %d mails and %d logins", len(mails), len(auths))
	}
}

func TestSMTPInsecureLocalRelay(t *testing.T) {
	box := startSMTP(t, smtpServer{})
	c := mailConfig(box, "smtp")
	c.Username, c.Password, c.Insecure = "", "", true
	if err := mustNew(t, c).Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	if mails, auths := box.Got(); len(mails) != 1 || mails[0].TLS || len(auths) != 0 {
		t.Fatalf("mails %+v, logins %v", mails, auths)
	}
}

func TestSMTPUnknownCA(t *testing.T) {
	srvTLS, _ := serverTLS(t)
	box := startSMTP(t, smtpServer{tls: srvTLS})
	de := deliveryError(t, mustNew(t, mailConfig(box, "smtp")).Send(t.Context(), sample()))
	if de.Retry || !strings.Contains(de.Error(), "certificate") {
		t.Errorf("error %v (retry %v), want a certificate error, not retried", de, de.Retry)
	}
	if mails, auths := box.Got(); len(mails) != 0 || len(auths) != 0 {
		t.Errorf("the server got %d mails and %d logins", len(mails), len(auths))
	}
}

func TestSMTPWrongPasswordIsNotRetriedNorShown(t *testing.T) {
	srvTLS, ca := serverTLS(t)
	box := startSMTP(t, smtpServer{tls: srvTLS})
	c := mailConfig(box, "smtp")
	c.RootCAs, c.Password = ca.RootCAs, "wrong-secret-pw"
	de := deliveryError(t, mustNew(t, c).Send(t.Context(), sample()))
	if de.Retry || !strings.Contains(de.Error(), "535") || strings.Contains(de.Error(), "wrong-secret-pw") {
		t.Errorf("error %v (retry %v)", de, de.Retry)
	}
}

func TestSMTPRepliesAreClassified(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
	}{{451, true}, {550, false}} {
		srvTLS, ca := serverTLS(t)
		box := startSMTP(t, smtpServer{tls: srvTLS, rcptErr: &gosmtp.SMTPError{Code: tc.code, Message: "mailbox says no"}})
		c := mailConfig(box, "smtp")
		c.RootCAs = ca.RootCAs
		de := deliveryError(t, mustNew(t, c).Send(t.Context(), sample()))
		if de.Retry != tc.retry {
			t.Errorf("%d: retry %v, want %v (%v)", tc.code, de.Retry, tc.retry, de)
		}
	}
}

// A server that accepts the connection and never greets is given up on
// when the context ends, and that may pass.
func TestSMTPHangingServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := Config{Type: SMTP, Address: "smtp://" + l.Addr().String(), From: "lockstep@example.org", To: []string{"ops@example.org"}}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	de := deliveryError(t, mustNew(t, c).Send(ctx, sample()))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s to give up", took)
	}
	if !de.Retry || !errors.Is(de, context.DeadlineExceeded) {
		t.Errorf("error %v (retry %v), want a deadline, retried", de, de.Retry)
	}
}

// Text from a commit (its subject, the Application's name) lands in the
// Subject header; a line break in it must not start another header.
func TestSMTPHeaderInjection(t *testing.T) {
	srvTLS, ca := serverTLS(t)
	box := startSMTP(t, smtpServer{tls: srvTLS})
	c := mailConfig(box, "smtp")
	c.RootCAs = ca.RootCAs
	m := sample()
	m.Application = "team-a/web\r\nBcc: evil@example.org"
	m.Trigger = "SyncFailed\nX-Injected: trigger"
	m.Subject = "Fix\r\n\r\nbody smuggled"
	if err := mustNew(t, c).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	mails, _ := box.Got()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	if !slices.Equal(mails[0].To, []string{"ops@example.org", "dev@example.org"}) {
		t.Errorf("recipients %v", mails[0].To)
	}
	msg := readMail(t, mails[0].Data)
	var names []string
	for k := range msg.Header {
		names = append(names, k)
	}
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(names))); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if s := decodeHeader(t, msg.Header.Get("Subject")); s != "[Lockstep] SyncFailed X-Injected: trigger team-a/web Bcc: evil@example.org at 1a2b3c4" {
		t.Errorf("subject %q", s)
	}
}

func readMail(t *testing.T, data []byte) *mail.Message {
	t.Helper()
	if !bytes.Contains(data, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("the mail's lines do not all end in CRLF")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mailBody(t *testing.T, msg *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
