package controller

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// OIDCOptions configure single sign-on against the perimeter's OpenID
// provider (docs/sso.md); an empty Issuer turns it off.
type OIDCOptions struct {
	Issuer string
	// ClientID is the browser's client, confidential with the secret in
	// ClientSecretFile (a mounted Secret; never a flag's value), or public
	// when no file is given.
	ClientID         string
	ClientSecretFile string
	// CLIClientID is the public client `lockstep login --sso` signs in as.
	CLIClientID string
	// RedirectURL is https://<the API's public name>/auth/callback, as
	// registered with the provider. It cannot be derived: the API's listen
	// address is not the name browsers reach it by.
	RedirectURL string
	// CAFile is the PEM of the CA that signed the provider's certificate,
	// trusted besides the system's.
	CAFile                     string
	UsernameClaim, GroupsClaim string
	// Scopes requested; auth.DefaultOIDCScopes when empty.
	Scopes []string
}

// Enabled says whether single sign-on is configured.
func (o OIDCOptions) Enabled() bool { return o.Issuer != "" }

// maxOIDCFileBytes bounds the secret and CA files.
const maxOIDCFileBytes = 1 << 20

// config reads the files the options name and checks what discovery cannot:
// a misconfiguration stops the controller at start, an unreachable provider
// does not (see discoverOIDC). It returns the CA's PEM for clients too.
func (o OIDCOptions) config() (auth.OIDCConfig, string, error) {
	cfg := auth.OIDCConfig{Issuer: o.Issuer, ClientID: o.ClientID, CLIClientID: o.CLIClientID, RedirectURL: o.RedirectURL,
		UsernameClaim: o.UsernameClaim, GroupsClaim: o.GroupsClaim, Scopes: o.Scopes}
	if o.ClientID == "" {
		return cfg, "", errors.New("--oidc-issuer needs --oidc-client-id: the client registered for Lockstep's browser sign-in")
	}
	if err := checkRedirectURL(o.RedirectURL); err != nil {
		return cfg, "", err
	}
	if o.ClientSecretFile != "" {
		raw, err := readBounded(o.ClientSecretFile)
		if err != nil {
			return cfg, "", fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		if cfg.ClientSecret = strings.TrimSpace(string(raw)); cfg.ClientSecret == "" {
			return cfg, "", fmt.Errorf("--oidc-client-secret-file %s is empty", o.ClientSecretFile)
		}
	}
	var caPEM string
	if o.CAFile != "" {
		raw, err := readBounded(o.CAFile)
		if err != nil {
			return cfg, "", fmt.Errorf("--oidc-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(raw) {
			return cfg, "", fmt.Errorf("--oidc-ca-file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs, caPEM = pool, string(raw)
	}
	return cfg, caPEM, nil
}

// checkRedirectURL insists on the callback the API serves, over https (http
// only to a loopback address, for trying it out).
func checkRedirectURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("--oidc-issuer needs --oidc-redirect-url, https://<the API's name>%s as registered with the provider", server.PathAuthCallback)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("--oidc-redirect-url %q: want https://<the API's name>%s", raw, server.PathAuthCallback)
	case u.Path != server.PathAuthCallback:
		return fmt.Errorf("--oidc-redirect-url %q: the path must be %s, where the API takes the browser back", raw, server.PathAuthCallback)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (u.Hostname() == "localhost" || isLoopbackIP(u.Hostname())):
		return nil
	}
	return fmt.Errorf("--oidc-redirect-url %q must be https (http only to a loopback address): the session cookie is set on that answer", raw)
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxOIDCFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(raw) > maxOIDCFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxOIDCFileBytes)
	}
	return raw, nil
}

// relyingParty is the API's server.RelyingParty while the provider may not be
// discovered yet: the controller starts and reconciles with the provider
// down, password and token logins work, and single sign-on answers 503 until
// discovery succeeds.
type relyingParty struct {
	issuer  string
	current atomic.Pointer[auth.OIDC]
	// lastErr is why the last discovery failed.
	lastErr atomic.Pointer[error]
}

var _ server.RelyingParty = (*relyingParty)(nil)

// Ready says why single sign-on cannot serve yet, or nil.
func (r *relyingParty) Ready() error {
	if r.current.Load() != nil {
		return nil
	}
	if err := r.lastErr.Load(); err != nil {
		return fmt.Errorf("the identity provider %s is not discovered yet: %w", r.issuer, *err)
	}
	return fmt.Errorf("the identity provider %s is not discovered yet: %w", r.issuer, auth.ErrIdentityProviderUnavailable)
}

// AuthCodeURL implements server.RelyingParty; the server asks Ready first.
func (r *relyingParty) AuthCodeURL(state, verifier, nonce string) string {
	if o := r.current.Load(); o != nil {
		return o.AuthCodeURL(state, verifier, nonce)
	}
	return ""
}

// Exchange implements server.RelyingParty.
func (r *relyingParty) Exchange(ctx context.Context, code, verifier, nonce string) (auth.Identity, error) {
	o := r.current.Load()
	if o == nil {
		return auth.Identity{}, r.Ready()
	}
	return o.Exchange(ctx, code, verifier, nonce)
}

// Verify implements server.RelyingParty.
func (r *relyingParty) Verify(ctx context.Context, rawIDToken string) (auth.Identity, error) {
	o := r.current.Load()
	if o == nil {
		return auth.Identity{}, r.Ready()
	}
	return o.Verify(ctx, rawIDToken)
}

// Discovery retries: the first after discoveryRetryMin, doubling up to
// discoveryRetryMax.
const (
	discoveryRetryMin = 5 * time.Second
	discoveryRetryMax = 5 * time.Minute
)

// discover discovers the provider, retrying with backoff until it succeeds
// or ctx ends; each failure is logged with the time of the next try.
func (r *relyingParty) discover(ctx context.Context, cfg auth.OIDCConfig, retry time.Duration, log logr.Logger) {
	for {
		o, err := auth.NewOIDC(ctx, cfg)
		if err == nil {
			r.current.Store(o)
			log.Info("single sign-on ready", "issuer", cfg.Issuer)
			return
		}
		r.lastErr.Store(&err)
		log.Error(err, "single sign-on is unavailable until the identity provider can be discovered; password and API-token logins work",
			"issuer", cfg.Issuer, "retryIn", retry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, discoveryRetryMax)
	}
}

// scopesWarning says how the RBAC ConfigMap's scopes key disagrees with the
// claims single sign-on reads, or "". Lockstep reads groups from one claim,
// the one --oidc-groups-claim names; scopes may also name the username claim,
// whose value is the user's subject already (Argo CD's [groups, email] reads
// that way with the email as the username). Any other claim would match
// nobody, which an operator carrying Argo CD's ConfigMap over should hear of.
func scopesWarning(data map[string]string, scopes []string, cfg auth.OIDCConfig) string {
	if _, set := data[rbac.KeyScopes]; !set {
		return ""
	}
	groups := cmp.Or(cfg.GroupsClaim, auth.DefaultOIDCGroupsClaim)
	username := cmp.Or(cfg.UsernameClaim, auth.DefaultOIDCUsernameClaim)
	var unread []string
	for _, s := range scopes {
		if s != groups && s != username {
			unread = append(unread, s)
		}
	}
	switch {
	case len(unread) > 0:
		return fmt.Sprintf("%s names %q, claims single sign-on does not read as groups: groups come from the claim %q (--oidc-groups-claim) and the username from %q (--oidc-username-claim); lines naming other claims' values match nobody",
			rbac.KeyScopes, unread, groups, username)
	case !slices.Contains(scopes, groups):
		return fmt.Sprintf("%s does not name %q, yet single sign-on reads groups from it (--oidc-groups-claim): %s does not turn groups off",
			rbac.KeyScopes, groups, rbac.KeyScopes)
	}
	return ""
}
