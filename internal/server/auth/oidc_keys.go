package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// oidcKeys is the provider's key set (JWKS), fetched when a token names a key
// it does not hold and cached. It implements go-oidc's KeySet over the cache
// only; prepare fetches beforehand, so a provider that cannot be reached is
// told apart from a forged token, and so forged tokens naming made-up key IDs
// cannot make the server hammer the provider: it fetches at most once per
// oidcKeysMinRefresh.
type oidcKeys struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetching chan struct{} // one slot: one fetch at a time, and waiting for it honours ctx

	mu      sync.Mutex // guards keys, fetched and tried
	keys    []jose.JSONWebKey
	fetched time.Time // when keys were last fetched
	tried   time.Time // when a fetch was last attempted
}

const (
	// oidcKeysMinRefresh is the least time between two fetches of the keys.
	oidcKeysMinRefresh = 10 * time.Second
	// oidcKeysMaxAge is how long fetched keys are trusted before they are
	// fetched again, so a key the provider withdraws stops working.
	oidcKeysMaxAge = time.Hour
)

func newOIDCKeys(url string, client *http.Client) *oidcKeys {
	return &oidcKeys{url: url, client: client, now: time.Now, fetching: make(chan struct{}, 1)}
}

// joseAlgs is oidcSigningAlgs for go-jose.
var joseAlgs = func() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(oidcSigningAlgs))
	for i, a := range oidcSigningAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}()

// prepare checks the token's header and makes sure the cache holds the keys
// it names, fetching them if needed. A bad header or an unknown key wraps
// ErrIDTokenRejected; a failed fetch with nothing cached,
// ErrIdentityProviderUnavailable.
func (k *oidcKeys) prepare(ctx context.Context, raw string) error {
	header, err := jwtHeader(raw)
	if err != nil {
		return fmt.Errorf("oidc: %w: %w", ErrIDTokenRejected, err)
	}
	if !slices.Contains(oidcSigningAlgs, header.Alg) {
		return fmt.Errorf("oidc: %w: signed with %q; only asymmetric algorithms (%s) are accepted",
			ErrIDTokenRejected, header.Alg, strings.Join(oidcSigningAlgs, ", "))
	}
	found, fresh := k.lookup(header.Kid)
	if found && fresh {
		return nil
	}
	if err := k.refresh(ctx); err != nil {
		if found { // stale keys beat none while the provider is away
			return nil
		}
		return fmt.Errorf("oidc: fetching the provider's keys: %w: %w", ErrIdentityProviderUnavailable, err)
	}
	if found, _ = k.lookup(header.Kid); !found {
		return fmt.Errorf("oidc: %w: signed with key %q, which the provider does not publish", ErrIDTokenRejected, header.Kid)
	}
	return nil
}

type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// jwtHeader decodes a compact JWS's protected header.
func jwtHeader(raw string) (joseHeader, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return joseHeader{}, fmt.Errorf("not a signed JWT (%d parts, want 3)", len(parts))
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return joseHeader{}, fmt.Errorf("header: %w", err)
	}
	var h joseHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return joseHeader{}, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// lookup reports whether the cache holds a key with the ID (any key when kid
// is empty), and whether the cache is fresh.
func (k *oidcKeys) lookup(kid string) (found, fresh bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	found = slices.ContainsFunc(k.keys, func(key jose.JSONWebKey) bool { return kid == "" || key.KeyID == kid })
	return found, !k.fetched.IsZero() && k.now().Sub(k.fetched) < oidcKeysMaxAge
}

// refresh fetches the keys unless a fetch was attempted less than
// oidcKeysMinRefresh ago; then it returns nil and leaves the cache as it is.
func (k *oidcKeys) refresh(ctx context.Context) error {
	select {
	case k.fetching <- struct{}{}:
		defer func() { <-k.fetching }()
	case <-ctx.Done():
		return ctx.Err()
	}
	k.mu.Lock()
	recent := !k.tried.IsZero() && k.now().Sub(k.tried) < oidcKeysMinRefresh
	if !recent {
		k.tried = k.now()
	}
	k.mu.Unlock()
	if recent {
		return nil
	}
	keys, err := k.fetch(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.fetched = keys, k.now()
	k.mu.Unlock()
	return nil
}

func (k *oidcKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // bounded by the client's transport
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", k.url, err)
	}
	return keys, nil
}

// parseJWKS keeps the public signing keys of a JWKS and skips the rest (keys
// for encryption, symmetric keys, key types go-jose does not know).
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || key.Use == "enc" || !key.Valid() {
			continue
		}
		if _, symmetric := key.Key.([]byte); symmetric {
			continue
		}
		if !key.IsPublic() {
			key = key.Public()
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set holds no public signing key")
	}
	return keys, nil
}

// VerifySignature implements go-oidc's KeySet over the cached keys; the
// verifier has checked the algorithm already.
func (k *oidcKeys) VerifySignature(_ context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, joseAlgs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("the signature does not verify with the provider's key %q", kid)
}
