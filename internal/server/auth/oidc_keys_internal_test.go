package auth

import (
	"errors"
	"testing"
	"time"

	testoidc "github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

// A provider that rotates its key: tokens signed with the new key verify once
// the keys may be fetched again, and tokens signed with the old one keep
// verifying while the provider publishes it.
func TestOIDCKeyRotation(t *testing.T) {
	p := testoidc.Start(t)
	p.AddUser(testoidc.User{Name: "alice", Password: "pw"})
	o, err := NewOIDC(t.Context(), OIDCConfig{Issuer: p.Issuer, ClientID: "lockstep"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	o.keys.now = func() time.Time { return now }
	verify := func(token string) error {
		_, err := o.Verify(t.Context(), token)
		return err
	}

	old := p.Sign(t, p.Claims("alice", "lockstep"))
	if err := verify(old); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	p.RotateKey(t)
	rotated := p.Sign(t, p.Claims("alice", "lockstep"))
	if err := verify(rotated); !errors.Is(err, ErrIDTokenRejected) {
		t.Errorf("new key within %s of the last fetch: got %v, want a refusal (fetches are rate-limited)", oidcKeysMinRefresh, err)
	}
	now = now.Add(oidcKeysMinRefresh + time.Second)
	if err := verify(rotated); err != nil {
		t.Errorf("new key after %s: %v", oidcKeysMinRefresh, err)
	}
	if err := verify(old); err != nil {
		t.Errorf("old key, still published: %v", err)
	}
	if got := p.Requests("/keys"); got != 2 {
		t.Errorf("%d key fetches, want 2", got)
	}

	// Keys older than oidcKeysMaxAge are fetched again even when they match.
	now = now.Add(oidcKeysMaxAge)
	if err := verify(old); err != nil {
		t.Errorf("after %s: %v", oidcKeysMaxAge, err)
	}
	if got := p.Requests("/keys"); got != 3 {
		t.Errorf("%d key fetches, want 3", got)
	}
}
