package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SessionPrefix starts every session token.
const SessionPrefix = "lss."

// DefaultSessionTTL is how long a session lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// maxSessionToken bounds what is parsed as a session token: a session carries
// groups, which an identity provider may list by the hundred.
const maxSessionToken = 64 << 10

// session is what a session token carries, signed. It holds no secret: the
// signature is what makes it worth anything.
type session struct {
	ID      string   `json:"sid"`
	Subject string   `json:"sub"`
	Method  Method   `json:"mth"`
	Groups  []string `json:"grp,omitempty"`
	// Generation is the account's password generation (local accounts): a
	// new password ends every session opened with the old one.
	Generation string `json:"gen,omitempty"`
	IssuedAt   int64  `json:"iat"`
	Expires    int64  `json:"exp"`
}

// sessionKeyLength is the HMAC key's length; a shorter key in the Secret is
// refused.
const sessionKeyLength = 32

func newSessionKey() ([]byte, error) {
	key := make([]byte, sessionKeyLength)
	_, err := rand.Read(key)
	return key, err
}

func newSessionID() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

// signSession makes a session token: prefix, payload, HMAC-SHA256 of both.
// There is no algorithm field to choose: the only way in is this key.
func signSession(key []byte, s session) (string, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	payload := SessionPrefix + base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(key, payload)), nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

var errBadSession = errors.New("the session is not valid: log in again")

// openSession checks a session token's signature and expiry and returns what
// it carries.
func openSession(key []byte, token string, now time.Time) (session, error) {
	if len(token) > maxSessionToken || !strings.HasPrefix(token, SessionPrefix) {
		return session{}, errBadSession
	}
	i := strings.LastIndexByte(token, '.')
	payload, sig := token[:i], token[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, payload)) {
		return session{}, errBadSession
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(payload, SessionPrefix))
	if err != nil {
		return session{}, errBadSession
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil || s.ID == "" || s.Subject == "" {
		return session{}, errBadSession
	}
	if now.Unix() >= s.Expires {
		return session{}, fmt.Errorf("the session expired at %s: log in again", time.Unix(s.Expires, 0).UTC().Format(time.RFC3339))
	}
	return s, nil
}

// sessionState is the sessions Secret's content.
type sessionState struct {
	key []byte
	// revoked maps the IDs of sessions ended by logout to their expiry, after
	// which they need not be remembered.
	revoked map[string]int64
}

func parseSessionState(data map[string][]byte) (sessionState, error) {
	st := sessionState{key: data["key"], revoked: map[string]int64{}}
	if len(st.key) < sessionKeyLength {
		return st, fmt.Errorf("the Secret %s: key \"key\" is missing or shorter than %d bytes", SecretSessions, sessionKeyLength)
	}
	if raw := data["revoked"]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &st.revoked); err != nil {
			return st, fmt.Errorf("the Secret %s, key \"revoked\": %w", SecretSessions, err)
		}
	}
	return st, nil
}
