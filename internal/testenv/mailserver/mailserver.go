// Package mailserver is a real SMTP server for tests (emersion/go-smtp's,
// the library many Go mail servers are built on) on a free loopback port:
// STARTTLS or implicit TLS, AUTH PLAIN with one account, and the mail it
// took, to check what a notification sent.
package mailserver

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// The account the server takes.
const (
	Username = "lockstep"
	Password = "pa55-w0rd-secret"
)

// Options shape the server.
type Options struct {
	// TLS offers STARTTLS when set (or serves TLS from the first byte with
	// ImplicitTLS).
	TLS         *tls.Config
	ImplicitTLS bool
	// AllowInsecureAuth takes AUTH without TLS.
	AllowInsecureAuth bool
	// RcptErr is answered to RCPT when set.
	RcptErr error
}

// Server is a running server and what it took.
type Server struct {
	// Addr is host:port.
	Addr    string
	rcptErr error

	mu    sync.Mutex
	auths []string // user names that tried to log in
	mails []Mail
}

// Mail is one message taken.
type Mail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // it came over TLS
	User string // who logged in, "" for no one
}

// Start starts a server for the test; it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{rcptErr: o.RcptErr}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = o.TLS
	srv.AllowInsecureAuth = o.AllowInsecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.ImplicitTLS {
		l = tls.NewListener(l, o.TLS)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Got returns the mail taken and the user names that tried to log in.
func (s *Server) Got() ([]Mail, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails), slices.Clone(s.auths)
}

type session struct {
	s    *Server
	conn *gosmtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		x.s.mu.Lock()
		x.s.auths = append(x.s.auths, username)
		x.s.mu.Unlock()
		if username != Username || password != Password {
			return gosmtp.ErrAuthFailed
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *gosmtp.MailOptions) error { x.from = from; return nil }

func (x *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if x.s.rcptErr != nil {
		return x.s.rcptErr
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.mails = append(x.s.mails, Mail{From: x.from, To: x.to, Data: data, TLS: isTLS, User: x.user})
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
