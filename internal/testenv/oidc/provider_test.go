package oidc_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

type claims struct {
	Subject  string   `json:"sub"`
	Username string   `json:"preferred_username"`
	Email    string   `json:"email"`
	Verified bool     `json:"email_verified"`
	Groups   []string `json:"groups"`
	Nonce    string   `json:"nonce"`
	Expiry   int64    `json:"exp"`
}

// codeFlow runs the authorization-code flow with PKCE through the provider's
// login form and returns the verified ID token's claims.
func codeFlow(t *testing.T, p *oidc.Provider, cfg oauth2.Config, user, password string) claims {
	t.Helper()
	ctx := gooidc.ClientContext(t.Context(), p.HTTPClient())
	discovered, err := gooidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg.Endpoint = discovered.Endpoint()
	cfg.Scopes = []string{gooidc.ScopeOpenID, "profile", "email", "groups"}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("the-state", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("the-nonce"))
	redirect, err := p.Login(ctx, authURL, user, password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("state"); got != "the-state" {
		t.Fatalf("redirect %s: state %q", redirect, got)
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.HTTPClient()), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idToken, err := discovered.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var c claims
	if err := idToken.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodeFlowConfidentialClient(t *testing.T) {
	start := time.Now()
	p := oidc.Start(t)
	t.Logf("provider started in %s", time.Since(start))
	p.AddClient(oidc.Client{ID: "server", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1:1/auth/callback"}})
	p.AddUser(oidc.User{Name: "alice", Password: "pw", Groups: []string{"ops", "dev"}})

	got := codeFlow(t, p, oauth2.Config{ClientID: "server", ClientSecret: "s3cret", RedirectURL: "http://127.0.0.1:1/auth/callback"}, "alice", "pw")
	want := claims{Subject: "id-alice", Username: "alice", Email: "alice@example.test", Verified: true,
		Groups: []string{"ops", "dev"}, Nonce: "the-nonce"}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(claims{}, "Expiry")); diff != "" {
		t.Errorf("ID token claims (-want +got):\n%s", diff)
	}
}

func TestCodeFlowPublicClientLoopbackAnyPort(t *testing.T) {
	p := oidc.Start(t, oidc.WithTLS(), oidc.WithIDTokenLifetime(10*time.Minute))
	p.AddClient(oidc.Client{ID: "cli", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	p.AddUser(oidc.User{Name: "bob", Password: "pw"})

	got := codeFlow(t, p, oauth2.Config{ClientID: "cli", RedirectURL: "http://127.0.0.1:49152/callback"}, "bob", "pw")
	if got.Subject != "id-bob" || got.Groups == nil || len(got.Groups) != 0 {
		t.Errorf("claims %+v: want subject id-bob and an empty groups array", got)
	}
	if left := time.Until(time.Unix(got.Expiry, 0)); left < 9*time.Minute || left > 11*time.Minute {
		t.Errorf("ID token valid for %s, want 10 minutes", left)
	}
}

func TestLoginRefusedAndDenied(t *testing.T) {
	p := oidc.Start(t)
	p.AddClient(oidc.Client{ID: "cli", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	p.AddUser(oidc.User{Name: "bob", Password: "pw"})
	cfg := oauth2.Config{ClientID: "cli", RedirectURL: "http://127.0.0.1:5/callback", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "/authorize"}}
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	if _, err := p.Login(t.Context(), authURL, "bob", "wrong"); !errors.Is(err, oidc.ErrLoginRefused) {
		t.Errorf("wrong password: got %v, want ErrLoginRefused", err)
	}
	redirect, err := p.Deny(t.Context(), authURL)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirect)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "st" {
		t.Errorf("deny redirected to %s; want error=access_denied and the state", redirect)
	}
}

func TestDeviceFlow(t *testing.T) {
	p := oidc.Start(t)
	p.AddClient(oidc.Client{ID: "cli", Device: true})
	p.AddUser(oidc.User{Name: "carol", Password: "pw", Groups: []string{"admins"}})
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, p.HTTPClient())
	cfg := oauth2.Config{ClientID: "cli", Scopes: []string{"openid", "groups"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: p.Issuer + "/device_authorization", TokenURL: p.Issuer + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInParams}}
	auth, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if err := p.ApproveDevice(ctx, auth.UserCode, "carol", "pw"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	tok, err := cfg.DeviceAccessToken(ctx, auth)
	if err != nil {
		t.Fatalf("device token: %v", err)
	}
	if raw, _ := tok.Extra("id_token").(string); raw == "" {
		t.Errorf("device flow returned no ID token")
	}
}
