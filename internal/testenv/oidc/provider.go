// Package oidc starts a real OpenID provider for tests: the protocol server of
// github.com/zitadel/oidc (discovery, authorization with PKCE, token, userinfo,
// JWKS, ID-token signing, device authorization) over an in-memory store of
// users and clients that tests fill, with a plain HTML login form a test drives
// with net/http.
//
//	p := oidc.Start(t)
//	p.AddClient(oidc.Client{ID: "lockstep", Secret: "s3cret", RedirectURIs: []string{cb}})
//	p.AddUser(oidc.User{Name: "alice", Password: "pw", Groups: []string{"ops"}})
//	redirect, err := p.Login(ctx, authURL, "alice", "pw") // redirect carries code and state
//
// For hostile tests it also signs tokens the way an attacker would (another key,
// alg "none", HS256 keyed with the public key): see mint.go.
package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Provider is a running OpenID provider on 127.0.0.1; Start makes one and the
// test's cleanup stops it.
type Provider struct {
	// Issuer is the provider's issuer URL (http://127.0.0.1:PORT, or https with
	// WithTLS), which is also its base URL.
	Issuer string

	server *httptest.Server
	op     *op.Provider
	store  *store

	mu       sync.Mutex     // guards requests
	requests map[string]int // by path
}

// Option configures Start.
type Option func(*options)

type options struct {
	tls           bool
	idTokenExpiry time.Duration
}

// WithTLS serves the provider over HTTPS with a throw-away certificate for
// 127.0.0.1; CertPool trusts it.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithIDTokenLifetime sets how long the ID tokens the provider issues are valid
// (one hour by default).
func WithIDTokenLifetime(d time.Duration) Option {
	return func(o *options) { o.idTokenExpiry = d }
}

// Start runs a provider on a free loopback port until the test ends. It has no
// users and no clients: add them with AddUser and AddClient.
func Start(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	o := options{idTokenExpiry: time.Hour}
	for _, opt := range opts {
		opt(&o)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidc provider: signing key: %v", err)
	}
	srv := httptest.NewUnstartedServer(nil) // listens already, so the issuer is known
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	p := &Provider{
		Issuer: scheme + "://" + srv.Listener.Addr().String(),
		server: srv,
		store:  newStore(key, o.idTokenExpiry),

		requests: map[string]int{},
	}
	var cryptoKey [32]byte // encrypts the opaque access tokens
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		t.Fatalf("oidc provider: %v", err)
	}
	config := &op.Config{
		CryptoKey:          cryptoKey,
		CodeMethodS256:     true,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
		SupportedScopes:    []string{"openid", "profile", "email", "groups"},
		SupportedClaims: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp",
			"at_hash", "c_hash", "name", "preferred_username", "email", "email_verified", "groups"},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     5 * time.Minute,
			PollInterval: time.Second,
			UserFormPath: devicePath,
			UserCode:     op.UserCodeBase20,
		},
	}
	p.op, err = op.NewProvider(config, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		srv.Close()
		t.Fatalf("oidc provider: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(loginPath, p.loginHandler())
	mux.Handle(devicePath, p.deviceHandler())
	mux.Handle("/", p.op)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.URL.Path]++
		p.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	if o.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return p
}

// Close stops the provider before the test ends (a provider that went away).
func (p *Provider) Close() { p.server.Close() }

// Requests returns how many requests the provider served at path (such as
// "/keys", the JWKS).
func (p *Provider) Requests(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[path]
}

// CertPool trusts the provider's certificate (WithTLS); nil without TLS.
func (p *Provider) CertPool() *x509.CertPool {
	if p.server.TLS == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.server.Certificate())
	return pool
}

// HTTPClient returns a client that trusts the provider, with no cookie jar and
// the default redirect policy.
func (p *Provider) HTTPClient() *http.Client {
	return p.server.Client()
}

// User is an account of the provider.
type User struct {
	// Name is the login name and the preferred_username claim.
	Name     string
	Password string
	// Subject is the sub claim; "id-<Name>" when empty.
	Subject string
	// Email is the email claim; "<Name>@example.test" when empty. The provider
	// says it is verified.
	Email string
	// Groups is the groups claim, sent as a JSON array when the client asks
	// for the "groups" scope.
	Groups []string
}

// AddUser adds or replaces a user (matched by Name).
func (p *Provider) AddUser(u User) {
	if u.Subject == "" {
		u.Subject = "id-" + u.Name
	}
	if u.Email == "" {
		u.Email = u.Name + "@example.test"
	}
	p.store.putUser(u)
}

// Client is an OAuth client registered with the provider.
type Client struct {
	ID string
	// Secret makes a confidential client (client_secret_basic or _post); an
	// empty one a public client that must use PKCE.
	Secret string
	// RedirectURIs are the allowed redirect URIs. For a public client a
	// loopback URI (http://127.0.0.1/callback) matches on any port, as RFC
	// 8252 asks for native apps.
	RedirectURIs []string
	// Device allows the device authorization grant.
	Device bool
}

// AddClient adds or replaces a client (matched by ID).
func (p *Provider) AddClient(c Client) { p.store.putClient(c) }
