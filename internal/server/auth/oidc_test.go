package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

// The server's client, the CLI's public client and their redirect URIs, as an
// operator registers them with the provider.
const (
	serverClient = "lockstep"
	serverSecret = "s3cret"
	serverRedir  = "http://127.0.0.1:1/auth/callback" // never requested: Login stops before it
	cliClient    = "lockstep-cli"
)

// startProvider starts a provider with both clients and alice in two groups.
func startProvider(t *testing.T, opts ...oidc.Option) *oidc.Provider {
	t.Helper()
	p := oidc.Start(t, opts...)
	p.AddClient(oidc.Client{ID: serverClient, Secret: serverSecret, RedirectURIs: []string{serverRedir}})
	p.AddClient(oidc.Client{ID: cliClient, RedirectURIs: []string{"http://127.0.0.1" + auth.OIDCLoopbackPath}, Device: true})
	p.AddUser(oidc.User{Name: "alice", Password: "pw", Groups: []string{"ops", "dev"}})
	return p
}

func serverConfig(p *oidc.Provider) auth.OIDCConfig {
	return auth.OIDCConfig{
		Issuer:       p.Issuer,
		ClientID:     serverClient,
		ClientSecret: serverSecret,
		CLIClientID:  cliClient,
		RedirectURL:  serverRedir,
		RootCAs:      p.CertPool(),
	}
}

func newOIDC(t *testing.T, cfg auth.OIDCConfig) *auth.OIDC {
	t.Helper()
	o, err := auth.NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewOIDC: %v", err)
	}
	return o
}

// browserLogin runs the browser half of the server's flow: the authorization
// URL, the provider's form, and the redirect's code after checking its state.
func browserLogin(t *testing.T, p *oidc.Provider, o *auth.OIDC, user, verifier, nonce string) string {
	t.Helper()
	state := rand.Text()
	redirect, err := p.Login(t.Context(), o.AuthCodeURL(state, verifier, nonce), user, "pw")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	q := mustQuery(t, redirect)
	if q.Get("state") != state {
		t.Fatalf("redirect %s: state %q, want %q", redirect, q.Get("state"), state)
	}
	return q.Get("code")
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func wantAlice(p *oidc.Provider) auth.Identity {
	return auth.Identity{Subject: "id-alice", Username: "alice@example.test", Email: "alice@example.test",
		Groups: []string{"ops", "dev"}, Issuer: p.Issuer}
}

var ignoreExpiry = cmpopts.IgnoreFields(auth.Identity{}, "Expiry")

func TestOIDCExchange(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			var opts []oidc.Option
			if tls {
				opts = append(opts, oidc.WithTLS())
			}
			p := startProvider(t, opts...)
			o := newOIDC(t, serverConfig(p))
			verifier, nonce := oauth2.GenerateVerifier(), rand.Text()
			code := browserLogin(t, p, o, "alice", verifier, nonce)

			got, err := o.Exchange(t.Context(), code, verifier, nonce)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if diff := cmp.Diff(wantAlice(p), got, ignoreExpiry); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if left := time.Until(got.Expiry); left < 50*time.Minute || left > time.Hour+time.Minute {
				t.Errorf("expiry %s: want about an hour from now", got.Expiry)
			}
			// A code works once.
			if _, err := o.Exchange(t.Context(), code, verifier, nonce); err == nil || !strings.Contains(err.Error(), "refused the authorization code") {
				t.Errorf("second exchange of the code: got %v, want a refusal", err)
			}
		})
	}
}

func TestOIDCExchangeRefusals(t *testing.T) {
	p := startProvider(t)
	o := newOIDC(t, serverConfig(p))

	t.Run("wrong nonce", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := browserLogin(t, p, o, "alice", verifier, "the-nonce")
		_, err := o.Exchange(t.Context(), code, verifier, "another-nonce")
		wantErr(t, err, auth.ErrIDTokenRejected, "nonce")
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		code := browserLogin(t, p, o, "alice", oauth2.GenerateVerifier(), "n")
		_, err := o.Exchange(t.Context(), code, oauth2.GenerateVerifier(), "n")
		wantErr(t, err, nil, "refused the authorization code")
	})
	t.Run("made-up code", func(t *testing.T) {
		_, err := o.Exchange(t.Context(), "not-a-code", oauth2.GenerateVerifier(), "n")
		wantErr(t, err, nil, "refused the authorization code")
	})
	t.Run("missing nonce", func(t *testing.T) {
		_, err := o.Exchange(t.Context(), "code", oauth2.GenerateVerifier(), "")
		wantErr(t, err, nil, "needs the code, the PKCE verifier and the nonce")
	})
	t.Run("oversized groups", func(t *testing.T) {
		groups := make([]string, auth.MaxOIDCGroups+1)
		for i := range groups {
			groups[i] = "g" + strings.Repeat("x", i%10) + string(rune('a'+i%26)) + rand.Text()[:6]
		}
		p.AddUser(oidc.User{Name: "hoarder", Password: "pw", Groups: groups})
		verifier := oauth2.GenerateVerifier()
		code := browserLogin(t, p, o, "hoarder", verifier, "n")
		_, err := o.Exchange(t.Context(), code, verifier, "n")
		wantErr(t, err, auth.ErrIDTokenRejected, "1001 groups, more than the 1000 allowed")
	})
	t.Run("wrong client secret", func(t *testing.T) {
		cfg := serverConfig(p)
		cfg.ClientSecret = "guess"
		bad := newOIDC(t, cfg)
		verifier := oauth2.GenerateVerifier()
		code := browserLogin(t, p, bad, "alice", verifier, "n")
		_, err := bad.Exchange(t.Context(), code, verifier, "n")
		wantErr(t, err, nil, "refused the authorization code")
	})
}

func TestOIDCUsernameClaim(t *testing.T) {
	p := startProvider(t)
	cfg := serverConfig(p)
	cfg.UsernameClaim = "preferred_username"
	o := newOIDC(t, cfg)
	verifier := oauth2.GenerateVerifier()
	code := browserLogin(t, p, o, "alice", verifier, "n")
	got, err := o.Exchange(t.Context(), code, verifier, "n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "alice" {
		t.Errorf("username %q, want alice", got.Username)
	}
}

// wantErr checks that err wraps target (when not nil) and mentions text.
func wantErr(t *testing.T, err, target error, text string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("got no error, want one mentioning %q", text)
	case target != nil && !errors.Is(err, target):
		t.Errorf("error %q does not wrap %q", err, target)
	case !strings.Contains(err.Error(), text):
		t.Errorf("error %q does not mention %q", err, text)
	default:
		t.Logf("error, as expected: %v", err)
	}
}

func TestOIDCVerify(t *testing.T) {
	p := startProvider(t)
	o := newOIDC(t, serverConfig(p))
	valid := func() map[string]any { return p.Claims("alice", cliClient) }
	with := func(changes map[string]any) map[string]any {
		c := valid()
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	past := time.Now().Add(-time.Hour).Unix()
	manyGroups := make([]string, auth.MaxOIDCGroups+1)
	for i := range manyGroups {
		manyGroups[i] = "group-" + rand.Text()
	}
	tests := []struct {
		name   string
		token  string
		want   []string // groups, when accepted
		reject string   // what the refusal mentions
	}{
		{name: "valid for the CLI client", token: p.Sign(t, with(map[string]any{"groups": []string{"ops"}})), want: []string{"ops"}},
		{name: "valid for the server client", token: p.Sign(t, p.Claims("alice", serverClient))},
		{name: "groups as one string", token: p.Sign(t, with(map[string]any{"groups": "ops"})), want: []string{"ops"}},
		{name: "non-strings among groups are ignored", token: p.Sign(t, with(map[string]any{
			"groups": []any{1, "ops", nil, map[string]any{"a": 1}, "", "ops", []string{"x"}, "dev"}})), want: []string{"ops", "dev"}},
		{name: "groups claim not a list", token: p.Sign(t, with(map[string]any{"groups": 42}))},
		{name: "no groups claim", token: p.Sign(t, with(map[string]any{"groups": nil}))},
		{name: "email_verified absent", token: p.Sign(t, with(map[string]any{"email_verified": nil}))},

		{name: "signed by another key", token: p.SignWithOtherKey(t, valid()), reject: "signature"},
		{name: "alg none", token: oidc.Unsigned(t, valid()), reject: `signed with "none"`},
		{name: "HS256 keyed with the public key", token: p.SignHS256WithPublicKey(t, valid()), reject: `signed with "HS256"`},
		{name: "expired", token: p.Sign(t, with(map[string]any{"exp": past})), reject: "expired at"},
		{name: "another audience", token: p.Sign(t, p.Claims("alice", "someone-else")), reject: `issued to ["someone-else"]`},
		{name: "another issuer", token: p.Sign(t, with(map[string]any{"iss": "https://evil.example"})), reject: "different provider"},
		{name: "foreign authorized party", token: p.Sign(t, with(map[string]any{"azp": "someone-else"})), reject: "authorized party"},
		{name: "several audiences without azp", token: p.Sign(t, with(map[string]any{"aud": []string{cliClient, "other"}, "azp": nil})), reject: "several audiences"},
		{name: "too many groups", token: p.Sign(t, with(map[string]any{"groups": manyGroups})), reject: "1001 groups, more than the 1000 allowed"},
		{name: "group name too long", token: p.Sign(t, with(map[string]any{"groups": []string{strings.Repeat("g", 300)}})), reject: "300 bytes, more than the 256 allowed"},
		{name: "group with a newline", token: p.Sign(t, with(map[string]any{"groups": []string{"ops\nadmin"}})), reject: "control character"},
		{name: "groups by reference", token: p.Sign(t, with(map[string]any{"_claim_names": map[string]string{"groups": "src1"},
			"_claim_sources": map[string]any{"src1": map[string]string{"endpoint": "https://graph.example/groups"}}})), reject: "sent by reference"},
		{name: "email not verified", token: p.Sign(t, with(map[string]any{"email_verified": false})), reject: "not verified"},
		{name: "email not verified, as a string", token: p.Sign(t, with(map[string]any{"email_verified": "false"})), reject: "not verified"},
		{name: "no email", token: p.Sign(t, with(map[string]any{"email": nil})), reject: `no "email" claim`},
		{name: "no subject", token: p.Sign(t, with(map[string]any{"sub": nil})), reject: "no sub claim"},
		{name: "not a JWT", token: "abc.def", reject: "not a signed JWT"},
		{name: "huge", token: strings.Repeat("a", 600<<10), reject: "more than the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := o.Verify(t.Context(), tt.token)
			if tt.reject != "" {
				wantErr(t, err, auth.ErrIDTokenRejected, tt.reject)
				if got.Subject != "" || got.Username != "" {
					t.Errorf("a refused token returned an identity: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Username != "alice@example.test" || got.Subject != "id-alice" {
				t.Errorf("identity %+v: want alice", got)
			}
			if diff := cmp.Diff(tt.want, got.Groups, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOIDCVerifyWithoutCLIClient(t *testing.T) {
	p := startProvider(t)
	cfg := serverConfig(p)
	cfg.CLIClientID = ""
	o := newOIDC(t, cfg)
	_, err := o.Verify(t.Context(), p.Sign(t, p.Claims("alice", cliClient)))
	wantErr(t, err, auth.ErrIDTokenRejected, "not to this server's clients")
}

// Forged tokens naming made-up keys must not make the server fetch the
// provider's keys once per token.
func TestOIDCKeyFetchesAreBounded(t *testing.T) {
	p := startProvider(t)
	o := newOIDC(t, serverConfig(p))
	if _, err := o.Verify(t.Context(), p.Sign(t, p.Claims("alice", cliClient))); err != nil {
		t.Fatal(err)
	}
	before := p.Requests("/keys")
	forged := p.SignWithOtherKey(t, p.Claims("alice", cliClient))
	for range 50 {
		_, err := o.Verify(t.Context(), withKeyID(forged, rand.Text()))
		wantErr(t, err, auth.ErrIDTokenRejected, "does not publish")
	}
	if fetched := p.Requests("/keys") - before; fetched > 1 {
		t.Errorf("50 forged tokens made %d key fetches, want at most 1", fetched)
	}
}

// withKeyID replaces the kid in a compact JWS's header (breaking its
// signature, which the verifier never gets to check).
func withKeyID(token, kid string) string {
	_, rest, _ := strings.Cut(token, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"`+kid+`","typ":"JWT"}`)) + "." + rest
}

func TestOIDCProviderAway(t *testing.T) {
	p := startProvider(t)
	o := newOIDC(t, serverConfig(p))
	token := p.Sign(t, p.Claims("alice", cliClient))
	p.Close()
	_, err := o.Verify(t.Context(), token)
	wantErr(t, err, auth.ErrIdentityProviderUnavailable, "fetching the provider's keys")
	if errors.Is(err, auth.ErrIDTokenRejected) {
		t.Errorf("a provider that is away is reported as a rejected token: %v", err)
	}
}

func TestNewOIDCErrors(t *testing.T) {
	p := startProvider(t)
	tlsP := startProvider(t, oidc.WithTLS())
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	t.Cleanup(huge.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(slow.Close)

	tests := []struct {
		name string
		cfg  func(*auth.OIDCConfig)
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want string
	}{
		{name: "no issuer", cfg: func(c *auth.OIDCConfig) { c.Issuer = "" }, want: "no issuer URL"},
		{name: "http issuer off loopback", cfg: func(c *auth.OIDCConfig) { c.Issuer = "http://idp.example" }, want: "must be https"},
		{name: "issuer with a query", cfg: func(c *auth.OIDCConfig) { c.Issuer = "https://idp.example/?x=1" }, want: "query or fragment"},
		{name: "no client", cfg: func(c *auth.OIDCConfig) { c.ClientID = "" }, want: "no client ID"},
		{name: "relative redirect", cfg: func(c *auth.OIDCConfig) { c.RedirectURL = "/auth/callback" }, want: "not an absolute URL"},
		{name: "issuer mismatch", cfg: func(c *auth.OIDCConfig) { c.Issuer = strings.Replace(p.Issuer, "127.0.0.1", "localhost", 1) }, want: "calls itself"},
		{name: "nobody listening", cfg: func(c *auth.OIDCConfig) { c.Issuer = closed.URL }, want: "connection refused"},
		{name: "huge discovery document", cfg: func(c *auth.OIDCConfig) { c.Issuer = huge.URL }, want: "response body too large"},
		{name: "unknown CA", cfg: func(c *auth.OIDCConfig) { c.Issuer, c.RootCAs = tlsP.Issuer, nil }, want: "certificate"},
		{name: "deadline", cfg: func(c *auth.OIDCConfig) { c.Issuer = slow.URL },
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 200*time.Millisecond)
			}, want: "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := serverConfig(p)
			tt.cfg(&cfg)
			ctx, cancel := t.Context(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx(ctx)
			}
			defer cancel()
			_, err := auth.NewOIDC(ctx, cfg)
			wantErr(t, err, nil, tt.want)
		})
	}
}
