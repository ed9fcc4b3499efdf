package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TokenPrefix starts every API token, so secret scanners and people can tell
// one when they see it.
const TokenPrefix = "lockstep_"

// Token is an API token as stored: never its secret, only a hash of it. The
// secret is 256 random bits, so a plain SHA-256 is enough: there is nothing
// to guess.
type Token struct {
	// Name says what the token is for ("ci-deploy"); its RBAC subject is
	// "token/<name>".
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret part.
	Hash string `json:"hash"`
	// Roles are the only roles the token acts with.
	Roles []string `json:"roles"`
	// Projects, when not empty, are the only Projects (globs) it may touch.
	Projects []string `json:"projects,omitempty"`
	// CreatedBy is who created it, CreatedAt when; CreatorGroups the
	// creator's groups then (SSO), whose deny lines bind the token too.
	CreatedBy     string   `json:"createdBy"`
	CreatorGroups []string `json:"creatorGroups,omitempty"`
	// CreatorMethod is how the creator had logged in: a token of a local
	// account stops working when the account is deleted or disabled.
	CreatorMethod Method    `json:"creatorMethod,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	// ExpiresAt is when it stops working; tokens always expire.
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenInfo is a token as the API shows it: no hash.
type TokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	Projects  []string  `json:"projects,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Info is what the API may show of t.
func (t Token) Info(id string) TokenInfo {
	return TokenInfo{ID: id, Name: t.Name, Roles: t.Roles, Projects: t.Projects, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

// MaxTokenLifetime bounds a token's expiry: a token that never expires is a
// password nobody rotates.
const MaxTokenLifetime = 366 * 24 * time.Hour

var (
	tokenID   = regexp.MustCompile(`^[0-9a-f]{12}$`)
	tokenName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
)

// TokenRequest asks for a new token.
type TokenRequest struct {
	Name     string        `json:"name"`
	Roles    []string      `json:"roles"`
	Projects []string      `json:"projects,omitempty"`
	TTL      time.Duration `json:"-"`
	// ExpiresIn is the TTL as the API takes it ("720h").
	ExpiresIn string `json:"expiresIn"`
}

// Check says what is wrong with r, or nil.
func (r *TokenRequest) Check() error {
	if !tokenName.MatchString(r.Name) {
		return fmt.Errorf("token name %q: use 1 to 63 lower-case letters, digits, '.', '_' or '-'", r.Name)
	}
	if len(r.Roles) == 0 {
		return errors.New("a token needs at least one role (e.g. role:readonly)")
	}
	for _, role := range r.Roles {
		if !strings.HasPrefix(role, "role:") {
			return fmt.Errorf("role %q: a token acts with roles, named role:<name>", role)
		}
	}
	if len(r.Roles) > 32 || len(r.Projects) > 64 {
		return errors.New("a token may name at most 32 roles and 64 projects")
	}
	for _, s := range append(append([]string{}, r.Roles...), r.Projects...) {
		if s == "" || len(s) > 253 || strings.ContainsAny(s, ",\n\r\x00") {
			return fmt.Errorf("role or project %q: want a name of at most 253 characters without commas", s)
		}
	}
	if r.TTL <= 0 && r.ExpiresIn != "" {
		d, err := time.ParseDuration(r.ExpiresIn)
		if err != nil {
			return fmt.Errorf("expiresIn %q: %w", r.ExpiresIn, err)
		}
		r.TTL = d
	}
	if r.TTL <= 0 || r.TTL > MaxTokenLifetime {
		return fmt.Errorf("expiresIn: want a duration between 1s and %s (e.g. 720h)", MaxTokenLifetime)
	}
	return nil
}

// newToken makes a token's ID, its secret (the whole string to give the
// caller, once) and its stored form.
func newToken(r TokenRequest, by string, now time.Time) (id, secret string, t Token, err error) {
	raw := make([]byte, 6+32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", Token{}, err
	}
	id, key := hex.EncodeToString(raw[:6]), hex.EncodeToString(raw[6:])
	t = Token{Name: r.Name, Hash: hashTokenSecret(key), Roles: r.Roles, Projects: r.Projects, CreatedBy: by, CreatedAt: now.UTC(), ExpiresAt: now.Add(r.TTL).UTC()}
	return id, TokenPrefix + id + "_" + key, t, nil
}

func hashTokenSecret(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// splitToken parses a token string into its ID and secret part.
func splitToken(s string) (id, key string, ok bool) {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return "", "", false
	}
	id, key, ok = strings.Cut(rest, "_")
	if !ok || !tokenID.MatchString(id) || len(key) != 64 {
		return "", "", false
	}
	return id, key, true
}

// matches reports whether key is t's secret, in constant time.
func (t Token) matches(key string) bool {
	got := hashTokenSecret(key)
	return subtle.ConstantTimeCompare([]byte(got), []byte(t.Hash)) == 1
}

// ParseTokens reads the tokens Secret's data; a malformed entry is reported
// and left out.
func ParseTokens(data map[string][]byte) (map[string]Token, []error) {
	out := make(map[string]Token, len(data))
	var errs []error
	for _, id := range sortedKeys(data) {
		var t Token
		if !tokenID.MatchString(id) {
			errs = append(errs, fmt.Errorf("the Secret %s: key %q is not a token ID", SecretTokens, id))
			continue
		}
		if err := json.Unmarshal(data[id], &t); err != nil || len(t.Hash) != 64 || len(t.Roles) == 0 {
			errs = append(errs, fmt.Errorf("the Secret %s, token %s: malformed (want name, hash and roles)", SecretTokens, id))
			continue
		}
		out[id] = t
	}
	return out, errs
}
