package controller

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

func TestOIDCOptionsConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := write("secret", "s3cret\n")
	empty := write("empty", "\n")
	notPEM := write("ca.txt", "not a certificate")
	valid := OIDCOptions{Issuer: "https://idp.internal", ClientID: "lockstep", ClientSecretFile: secret, RedirectURL: "https://lockstep.internal/auth/callback"}

	cfg, caPEM, err := valid.config()
	if err != nil || cfg.ClientSecret != "s3cret" || caPEM != "" || cfg.RootCAs != nil {
		t.Errorf("config: %+v %q %v; want the secret without its newline, no CA", cfg, caPEM, err)
	}
	for _, tc := range []struct {
		name   string
		change func(*OIDCOptions)
		want   string
	}{
		{"no client", func(o *OIDCOptions) { o.ClientID = "" }, "needs --oidc-client-id"},
		{"no redirect", func(o *OIDCOptions) { o.RedirectURL = "" }, "needs --oidc-redirect-url"},
		{"redirect elsewhere", func(o *OIDCOptions) { o.RedirectURL = "https://lockstep.internal/callback" }, "the path must be /auth/callback"},
		{"redirect over http", func(o *OIDCOptions) { o.RedirectURL = "http://lockstep.internal/auth/callback" }, "must be https"},
		{"redirect with a query", func(o *OIDCOptions) { o.RedirectURL = "https://lockstep.internal/auth/callback?x=1" }, "want https://"},
		{"missing secret file", func(o *OIDCOptions) { o.ClientSecretFile = filepath.Join(dir, "none") }, "no such file"},
		{"empty secret file", func(o *OIDCOptions) { o.ClientSecretFile = empty }, "is empty"},
		{"CA not PEM", func(o *OIDCOptions) { o.CAFile = notPEM }, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			if _, _, err := o.config(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	// A loopback redirect over http is fine for trying it out.
	o := valid
	o.RedirectURL = "http://127.0.0.1:8443/auth/callback"
	if _, _, err := o.config(); err != nil {
		t.Errorf("loopback redirect: %v", err)
	}
}

func TestScopesWarning(t *testing.T) {
	cfg := auth.OIDCConfig{} // groups from "groups", the username from "email"
	for _, tc := range []struct {
		name   string
		data   map[string]string
		scopes []string
		want   string
	}{
		{"scopes not set", map[string]string{}, []string{"groups"}, ""},
		{"Argo CD's default", map[string]string{"scopes": "[groups]"}, []string{"groups"}, ""},
		{"groups and the username claim", map[string]string{"scopes": "[groups, email]"}, []string{"groups", "email"}, ""},
		{"a claim not read", map[string]string{"scopes": "[groups, roles]"}, []string{"groups", "roles"}, `names ["roles"]`},
		{"not the groups claim", map[string]string{"scopes": "[email]"}, []string{"email"}, `does not name "groups"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scopesWarning(tc.data, tc.scopes, cfg)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The controller starts with the provider down: single sign-on says why it
// cannot serve, and discovery is retried until it succeeds.
func TestRelyingPartyRetriesDiscovery(t *testing.T) {
	var tries atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tries.Add(1)
		http.Error(w, "starting up", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	rp := &relyingParty{issuer: down.URL}
	if err := rp.Ready(); err == nil || !errors.Is(err, auth.ErrIdentityProviderUnavailable) {
		t.Errorf("Ready before discovery: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rp.discover(ctx, auth.OIDCConfig{Issuer: down.URL, ClientID: "lockstep"}, 10*time.Millisecond, logr.Discard())
	}()
	deadline := time.Now().Add(5 * time.Second)
	for tries.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := tries.Load(); n < 3 {
		t.Errorf("%d discovery tries, want retries", n)
	}
	err := rp.Ready()
	if !errors.Is(err, auth.ErrIdentityProviderUnavailable) || !strings.Contains(err.Error(), down.URL) {
		t.Errorf("Ready after failed discoveries: %v; want the issuer and the cause", err)
	}
	if _, err := rp.Verify(t.Context(), "x"); !errors.Is(err, auth.ErrIdentityProviderUnavailable) {
		t.Errorf("Verify before discovery: %v", err)
	}
	if u := rp.AuthCodeURL("s", "v", "n"); u != "" {
		t.Errorf("AuthCodeURL before discovery: %q", u)
	}

	// A provider that answers is discovered at once.
	p := oidc.Start(t)
	p.AddClient(oidc.Client{ID: "lockstep-cli", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	up := &relyingParty{issuer: p.Issuer}
	up.discover(t.Context(), auth.OIDCConfig{Issuer: p.Issuer, ClientID: "lockstep", CLIClientID: "lockstep-cli"}, time.Hour, logr.Discard())
	if err := up.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if id, err := up.Verify(t.Context(), p.Sign(t, p.Claims("alice", "lockstep-cli"))); err != nil || id.Username != "alice@example.test" {
		t.Errorf("Verify: %+v, %v", id, err)
	}
}
