package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Tokens a test builds itself: the provider's own signature over claims the
// test chose (expired, another audience, odd groups), and forgeries a verifier
// must refuse.

// Claims returns the claims of an ID token the provider would issue to
// clientID for the named user (who need not exist), valid for an hour. Tests
// change them and sign them with Sign or a forgery.
func (p *Provider) Claims(user, clientID string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":                p.Issuer,
		"sub":                "id-" + user,
		"aud":                []string{clientID},
		"azp":                clientID,
		"iat":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
		"auth_time":          now.Unix(),
		"preferred_username": user,
		"email":              user + "@example.test",
		"email_verified":     true,
		"groups":             []string{},
	}
}

// Sign signs claims with the provider's own key, as the provider signs the ID
// tokens it issues.
func (p *Provider) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	k := p.store.signingKey()
	return signJWS(t, jose.RS256, jose.JSONWebKey{Key: k.key, KeyID: k.id}, claims)
}

// SignWithOtherKey signs claims with a fresh RSA key under the provider's key
// ID: a forgery the provider's JWKS does not verify.
func (p *Provider) SignWithOtherKey(t testing.TB, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidc provider: %v", err)
	}
	return signJWS(t, jose.RS256, jose.JSONWebKey{Key: key, KeyID: p.store.signingKey().id}, claims)
}

// SignHS256WithPublicKey signs claims with HMAC-SHA256 keyed by the
// provider's public key in PEM: the algorithm-confusion forgery, accepted by a
// verifier that lets the token choose its algorithm.
func (p *Provider) SignHS256WithPublicKey(t testing.TB, claims map[string]any) string {
	t.Helper()
	k := p.store.signingKey()
	der, err := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	if err != nil {
		t.Fatalf("oidc provider: %v", err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return signJWS(t, jose.HS256, jose.JSONWebKey{Key: secret, KeyID: k.id}, claims)
}

// RotateKey makes a new key the provider's signing key, under a new key ID;
// the old keys stay in the JWKS, as providers keep them while tokens they
// signed are alive.
func (p *Provider) RotateKey(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidc provider: %v", err)
	}
	p.store.rotate(key)
}

// Unsigned returns claims as a JWT with alg "none" and an empty signature.
func Unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("oidc provider: claims: %v", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

func signJWS(t testing.TB, alg jose.SignatureAlgorithm, key jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("oidc provider: claims: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("oidc provider: signer: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("oidc provider: signing: %v", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("oidc provider: %v", err)
	}
	return raw
}
