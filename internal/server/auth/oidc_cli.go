package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// The CLI's side of single sign-on (`lockstep login --sso`): it signs in as
// the provider's public client, with the loopback redirect of RFC 8252 or the
// device authorization grant, and gets an ID token to present to the server.

// OIDCCLIOptions control LoginLoopback and LoginDevice.
type OIDCCLIOptions struct {
	// Open shows the user where to sign in: the authorization URL for
	// LoginLoopback, the verification URL with the user code filled in for
	// LoginDevice. The CLI prints it and tries xdg-open. An error aborts the
	// login, so a hook that could at least print the URL returns nil.
	Open func(url string) error
	// UserCode, for LoginDevice, shows the code the user types on the
	// provider's page (the CLI prints it beside the URL); may be nil.
	UserCode func(code string)
	// Timeout bounds the whole login; DefaultOIDCLoginTimeout when zero.
	Timeout time.Duration
}

// DefaultOIDCLoginTimeout is how long a CLI login waits for the user.
const DefaultOIDCLoginTimeout = 5 * time.Minute

// OIDCLoopbackPath is the path of the loopback redirect URI: register
// http://127.0.0.1/callback with the provider for the CLI's client (providers
// match a loopback redirect on any port).
const OIDCLoopbackPath = "/callback"

// ErrOIDCStateMismatch is returned when the redirect's state is not the one
// the login sent: a forged or stale redirect.
var ErrOIDCStateMismatch = errors.New("oidc: the redirect's state is not the one this login sent (a forged or stale redirect)")

// LoginLoopback signs in with a browser as the public client o was made for
// (OIDCConfig.ClientID, no secret): it listens on 127.0.0.1 on a free port,
// has opts.Open send the user to the provider with PKCE (S256), state and
// nonce, waits for the redirect to http://127.0.0.1:PORT/callback, checks the
// state, redeems the code and verifies the ID token. It returns the raw ID
// token, for the server, and the identity it holds.
func (o *OIDC) LoginLoopback(ctx context.Context, opts OIDCCLIOptions) (string, Identity, error) {
	if opts.Open == nil {
		return "", Identity{}, errors.New("oidc: loopback login: no Open hook to show the sign-in URL")
	}
	timeout := cmp.Or(opts.Timeout, DefaultOIDCLoginTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", Identity{}, fmt.Errorf("oidc: loopback login: listening for the redirect: %w", err)
	}
	cfg := o.oauth
	cfg.RedirectURL = "http://" + ln.Addr().String() + OIDCLoopbackPath
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()

	type result struct {
		raw string
		id  Identity
		err error
	}
	results := make(chan result, 1)
	var once sync.Once
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != OIDCLoopbackPath {
				http.NotFound(w, r) // a browser's /favicon.ico
				return
			}
			answered := false
			once.Do(func() {
				answered = true
				var res result
				res.raw, res.id, res.err = o.loopbackCallback(ctx, cfg, r.URL.Query(), state, verifier, nonce)
				writeLoginPage(w, res.id, res.err)
				results <- res
			})
			if !answered {
				http.Error(w, "Lockstep: this sign-in is already finished.", http.StatusGone)
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }() // returns when srv is shut down
	defer func() {
		// Let the page reach the browser, then stop.
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()

	if err := opts.Open(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))); err != nil {
		return "", Identity{}, fmt.Errorf("oidc: loopback login: showing the sign-in URL: %w", err)
	}
	select {
	case res := <-results:
		return res.raw, res.id, res.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", Identity{}, fmt.Errorf("oidc: loopback login: the browser did not come back to %s within %s", cfg.RedirectURL, timeout)
		}
		return "", Identity{}, fmt.Errorf("oidc: loopback login: %w", ctx.Err())
	}
}

func (o *OIDC) loopbackCallback(ctx context.Context, cfg oauth2.Config, q url.Values, state, verifier, nonce string) (string, Identity, error) {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return "", Identity{}, ErrOIDCStateMismatch
	}
	if err := OIDCCallbackError(q); err != nil {
		return "", Identity{}, err
	}
	code := q.Get("code")
	if code == "" {
		return "", Identity{}, errors.New("oidc: the redirect carries neither a code nor an error")
	}
	return o.exchange(ctx, cfg, code, verifier, nonce)
}

// writeLoginPage tells the browser how the login ended.
func writeLoginPage(w http.ResponseWriter, id Identity, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "Lockstep: sign-in failed: "+err.Error()+"\nReturn to the terminal.\n")
		return
	}
	_, _ = io.WriteString(w, "Lockstep: signed in as "+id.Username+". You can close this window and return to the terminal.\n")
}

// LoginDevice signs in with the device authorization grant (RFC 8628), for a
// terminal without a browser: it asks the provider for a user code, shows the
// verification URL (opts.Open) and the code (opts.UserCode), polls until the
// user approves on another device, and verifies the ID token. The provider
// must allow the grant for o's client.
func (o *OIDC) LoginDevice(ctx context.Context, opts OIDCCLIOptions) (string, Identity, error) {
	if opts.Open == nil {
		return "", Identity{}, errors.New("oidc: device login: no Open hook to show the verification URL")
	}
	if o.oauth.Endpoint.DeviceAuthURL == "" {
		return "", Identity{}, errors.New("oidc: device login: the provider offers no device authorization endpoint; use the browser login")
	}
	timeout := cmp.Or(opts.Timeout, DefaultOIDCLoginTimeout)
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, o.client), timeout)
	defer cancel()
	auth, err := o.oauth.DeviceAuth(ctx)
	if err != nil {
		return "", Identity{}, fmt.Errorf("oidc: device login: %w: %w", ErrIdentityProviderUnavailable, err)
	}
	show := cmp.Or(auth.VerificationURIComplete, auth.VerificationURI)
	if opts.UserCode != nil {
		opts.UserCode(auth.UserCode)
	}
	if err := opts.Open(show); err != nil {
		return "", Identity{}, fmt.Errorf("oidc: device login: showing the verification URL: %w", err)
	}
	tok, err := o.oauth.DeviceAccessToken(ctx, auth)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return "", Identity{}, &OIDCProviderError{Code: re.ErrorCode, Description: printable(re.ErrorDescription, 512)}
		case errors.Is(err, context.DeadlineExceeded):
			return "", Identity{}, fmt.Errorf("oidc: device login: not approved within %s", timeout)
		}
		return "", Identity{}, fmt.Errorf("oidc: device login: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", Identity{}, fmt.Errorf("oidc: device login: the token response has no ID token: %w", ErrIDTokenRejected)
	}
	_, id, err := o.verify(ctx, raw)
	if err != nil {
		return "", Identity{}, err
	}
	return raw, id, nil
}
