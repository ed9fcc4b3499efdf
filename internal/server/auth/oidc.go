package auth

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OpenID Connect single sign-on, the relying-party side: discovery, the
// authorization-code flow with PKCE, and ID-token verification. What comes
// out is an Identity; the server turns it into its own session, so the
// provider's tokens are never kept.

// OIDCConfig configures single sign-on against the perimeter's OpenID provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document
	// states it. It must be https unless its host is a loopback address.
	Issuer string
	// ClientID is the server's (browser) client.
	ClientID string
	// ClientSecret authenticates a confidential client; empty for a public
	// client, which PKCE alone protects.
	ClientSecret string
	// CLIClientID, when set, is the CLI's public client: Verify accepts ID
	// tokens issued to it too, which is how `lockstep login --sso` turns its
	// ID token into a server session.
	CLIClientID string
	// RedirectURL is the server's callback (https://lockstep.example/auth/callback).
	// LoginLoopback sets its own.
	RedirectURL string
	// Scopes requested; DefaultOIDCScopes when empty. "openid" is added if
	// missing.
	Scopes []string
	// UsernameClaim names the claim that becomes Identity.Username, the RBAC
	// subject; DefaultOIDCUsernameClaim when empty. There is no fallback: a
	// token without it is refused, because silently naming a user by another
	// claim would give them another user's permissions.
	UsernameClaim string
	// GroupsClaim names the claim holding the user's groups;
	// DefaultOIDCGroupsClaim when empty.
	GroupsClaim string
	// RootCAs verifies the provider's certificate (the perimeter's CA); nil
	// means the system pool.
	RootCAs *x509.CertPool
}

// Defaults of OIDCConfig.
const (
	// DefaultOIDCUsernameClaim is "email": the one claim every provider sends
	// that names a person the same way across providers, and one that cannot
	// collide with a local account's name (those have no "@"). A token whose
	// email_verified is false is refused while it is the username.
	DefaultOIDCUsernameClaim = "email"
	DefaultOIDCGroupsClaim   = "groups"
)

// DefaultOIDCScopes are requested when OIDCConfig.Scopes is empty.
var DefaultOIDCScopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}

// Limits on what the provider or a caller sends.
const (
	// MaxOIDCGroups bounds the groups of one identity. A token with more is
	// refused rather than cut: a dropped group could escape a deny rule.
	MaxOIDCGroups = 1000
	// MaxOIDCGroupBytes bounds one group's name.
	MaxOIDCGroupBytes = 256
	// MaxOIDCUsernameBytes bounds the username.
	MaxOIDCUsernameBytes = 256
	// maxIDTokenBytes bounds a raw ID token (room for MaxOIDCGroups long names).
	maxIDTokenBytes = 512 << 10
	// maxOIDCResponseBytes bounds every response body read from the provider.
	maxOIDCResponseBytes = 1 << 20
	// oidcRequestTimeout bounds each request to the provider.
	oidcRequestTimeout = 30 * time.Second
	// oidcDiscoveryTimeout bounds NewOIDC's discovery.
	oidcDiscoveryTimeout = 15 * time.Second
)

// oidcSigningAlgs are the algorithms an ID token may be signed with: the
// asymmetric ones only, so neither "none" nor an HMAC keyed with the
// provider's public key (algorithm confusion) passes.
var oidcSigningAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// ErrIDTokenRejected wraps every reason an ID token is refused (forged,
// unsigned, expired, for another client or issuer, wrong nonce, oversized
// groups, no username): the caller answers 401.
var ErrIDTokenRejected = errors.New("ID token rejected")

// ErrIdentityProviderUnavailable wraps failures to reach the provider or to
// read its answers (discovery, keys, token endpoint): the caller answers 502
// or 503, and a retry may succeed.
var ErrIdentityProviderUnavailable = errors.New("identity provider unavailable")

// Identity is who the provider says the user is.
type Identity struct {
	Subject  string // the sub claim: stable, opaque
	Username string // the UsernameClaim's value: the RBAC subject
	Email    string // empty when the provider sent none
	Groups   []string
	Expiry   time.Time // the ID token's expiry
	Issuer   string
}

// OIDC is a relying party of one provider. It is safe for concurrent use.
type OIDC struct {
	cfg      OIDCConfig // defaults applied
	client   *http.Client
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	keys     *oidcKeys
}

// NewOIDC discovers the provider (within 15 seconds, or ctx's deadline if
// sooner) and returns a relying party for it.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := newOIDCHTTPClient(cfg.RootCAs)

	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, client), oidcDiscoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(dctx, cfg.Issuer)
	var mismatch *oidc.IssuerMismatchError
	if errors.As(err, &mismatch) { // a configuration error, not an outage
		return nil, fmt.Errorf("oidc: the provider at %s calls itself %q: set the issuer to exactly that", cfg.Issuer, mismatch.Discovered)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: discovering %s/.well-known/openid-configuration: %w: %w",
			strings.TrimSuffix(cfg.Issuer, "/"), ErrIdentityProviderUnavailable, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc: %s: discovery document: %w: %w", cfg.Issuer, ErrIdentityProviderUnavailable, err)
	}
	endpoint := provider.Endpoint()
	for _, e := range []struct{ name, url string }{{"authorization_endpoint", endpoint.AuthURL},
		{"token_endpoint", endpoint.TokenURL}, {"jwks_uri", meta.JWKSURI}} {
		if err := checkOIDCURL(e.url); err != nil {
			return nil, fmt.Errorf("oidc: %s: discovery document: %s: %w", cfg.Issuer, e.name, err)
		}
	}
	keys := newOIDCKeys(meta.JWKSURI, client)
	return &OIDC{
		cfg:    cfg,
		client: client,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		// The audience is checked by verify, which accepts two clients.
		verifier: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
			SkipClientIDCheck:    true,
			SupportedSigningAlgs: oidcSigningAlgs,
		}),
		keys: keys,
	}, nil
}

func (c OIDCConfig) validate() error {
	if c.Issuer == "" {
		return errors.New("oidc: no issuer URL")
	}
	if err := checkOIDCURL(c.Issuer); err != nil {
		return fmt.Errorf("oidc: issuer: %w", err)
	}
	if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("oidc: issuer %q: a query or fragment is not allowed", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("oidc: no client ID")
	}
	if c.RedirectURL != "" {
		if u, err := url.Parse(c.RedirectURL); err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("oidc: redirect URL %q is not an absolute URL", c.RedirectURL)
		}
	}
	return nil
}

func (c OIDCConfig) withDefaults() OIDCConfig {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultOIDCScopes
	}
	c.Scopes = slices.Clone(c.Scopes)
	if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		c.Scopes = append([]string{oidc.ScopeOpenID}, c.Scopes...)
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultOIDCUsernameClaim
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultOIDCGroupsClaim
	}
	return c
}

// checkOIDCURL accepts an absolute https URL, or http to a loopback host (a
// provider on the same machine, as in tests).
func checkOIDCURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must be https (http is allowed for loopback addresses only)", raw)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// AuthCodeURL returns the provider's authorization URL to send the browser
// to. The caller makes state and nonce unguessable (crypto/rand.Text) and the
// verifier with oauth2.GenerateVerifier, keeps all three bound to the browser
// (a short-lived cookie), and hands them to Exchange on the callback after
// checking the state. The PKCE challenge is S256.
func (o *OIDC) AuthCodeURL(state, verifier, nonce string) string {
	return o.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
}

// Exchange redeems the authorization code from the callback with the PKCE
// verifier, verifies the ID token and checks that it carries nonce.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	_, id, err := o.exchange(ctx, o.oauth, code, verifier, nonce)
	return id, err
}

func (o *OIDC) exchange(ctx context.Context, cfg oauth2.Config, code, verifier, nonce string) (string, Identity, error) {
	if code == "" || verifier == "" || nonce == "" {
		return "", Identity{}, errors.New("oidc: exchange needs the code, the PKCE verifier and the nonce")
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, o.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" && re.ErrorCode != "server_error" && re.ErrorCode != "temporarily_unavailable" {
			// invalid_grant and the like: the code, verifier or client is wrong.
			return "", Identity{}, fmt.Errorf("oidc: the provider refused the authorization code: %w", err)
		}
		return "", Identity{}, fmt.Errorf("oidc: redeeming the authorization code: %w: %w", ErrIdentityProviderUnavailable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", Identity{}, fmt.Errorf("oidc: the token response has no ID token (was the %q scope granted?): %w",
			oidc.ScopeOpenID, ErrIDTokenRejected)
	}
	token, id, err := o.verify(ctx, raw)
	if err != nil {
		return "", Identity{}, err
	}
	if subtle.ConstantTimeCompare([]byte(token.Nonce), []byte(nonce)) != 1 {
		return "", Identity{}, fmt.Errorf("oidc: %w: its nonce is not the one this login sent (a replayed or injected response)", ErrIDTokenRejected)
	}
	if token.AccessTokenHash != "" {
		if err := token.VerifyAccessToken(tok.AccessToken); err != nil {
			return "", Identity{}, fmt.Errorf("oidc: %w: at_hash does not match the access token: %w", ErrIDTokenRejected, err)
		}
	}
	return raw, id, nil
}

// Verify checks a raw ID token, as a CLI presents it: signed with an
// asymmetric algorithm by a key in the provider's JWKS, issued by the
// configured issuer to ClientID or CLIClientID, not expired. The nonce is not
// checked (the client that started the login did). Every refusal wraps
// ErrIDTokenRejected; a provider that cannot be reached for its keys,
// ErrIdentityProviderUnavailable.
func (o *OIDC) Verify(ctx context.Context, rawIDToken string) (Identity, error) {
	_, id, err := o.verify(ctx, rawIDToken)
	return id, err
}

func (o *OIDC) verify(ctx context.Context, raw string) (*oidc.IDToken, Identity, error) {
	if len(raw) > maxIDTokenBytes {
		return nil, Identity{}, fmt.Errorf("oidc: %w: %d bytes, more than the %d allowed", ErrIDTokenRejected, len(raw), maxIDTokenBytes)
	}
	// Make sure the signing key is known before go-oidc checks the signature,
	// so a provider that cannot be reached is told apart from a forgery.
	if err := o.keys.prepare(ctx, raw); err != nil {
		return nil, Identity{}, err
	}
	token, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, Identity{}, fmt.Errorf("oidc: %w: expired at %s", ErrIDTokenRejected, expired.Expiry.UTC().Format(time.RFC3339))
		}
		return nil, Identity{}, fmt.Errorf("oidc: %w: %w", ErrIDTokenRejected, unprefixed{err})
	}
	if err := o.checkAudience(token); err != nil {
		return nil, Identity{}, fmt.Errorf("oidc: %w: %w", ErrIDTokenRejected, err)
	}
	id, err := o.identity(token)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("oidc: %w: %w", ErrIDTokenRejected, err)
	}
	return token, id, nil
}

// checkAudience accepts a token whose audience holds one of our clients. When
// it names an authorized party (azp), that must be one of ours too; a token
// for several audiences must name it (OpenID Connect Core 3.1.3.7).
func (o *OIDC) checkAudience(token *oidc.IDToken) error {
	ours := func(id string) bool {
		return id != "" && (id == o.cfg.ClientID || id == o.cfg.CLIClientID)
	}
	if !slices.ContainsFunc(token.Audience, ours) {
		return fmt.Errorf("issued to %q, not to this server's clients", token.Audience)
	}
	var c struct {
		AZP string `json:"azp"`
	}
	if err := token.Claims(&c); err != nil {
		return err
	}
	switch {
	case c.AZP != "" && !ours(c.AZP):
		return fmt.Errorf("authorized party %q is not one of this server's clients", c.AZP)
	case c.AZP == "" && len(token.Audience) > 1:
		return fmt.Errorf("issued to several audiences %q without naming the authorized party", token.Audience)
	}
	return nil
}

// unprefixed drops go-oidc's "oidc: " from a message that already has ours.
type unprefixed struct{ error }

func (e unprefixed) Error() string { return strings.TrimPrefix(e.error.Error(), "oidc: ") }
func (e unprefixed) Unwrap() error { return e.error }

// OIDCCallbackError returns the provider's refusal carried by a callback's
// query (error=access_denied and the like), or nil when there is none.
func OIDCCallbackError(query url.Values) error {
	code := query.Get("error")
	if code == "" {
		return nil
	}
	return &OIDCProviderError{Code: printable(code, 64), Description: printable(query.Get("error_description"), 512)}
}

// OIDCProviderError is an error the provider sent back to the redirect URI
// instead of a code.
type OIDCProviderError struct {
	Code        string // access_denied, login_required, invalid_scope, ...
	Description string
}

func (e *OIDCProviderError) Error() string {
	msg := "oidc: the identity provider refused the login: " + e.Code
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	return msg
}

// printable drops control characters, which could forge log lines, and cuts
// s to about n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
