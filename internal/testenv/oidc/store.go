package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// store is the provider's state, implementing the library's op.Storage (and
// op.DeviceAuthorizationStorage) in memory. Only what an authorization-code or
// device flow needs is real; refresh tokens, token exchange and JWT profile
// grants are refused.
type store struct {
	idTokenLifetime time.Duration

	mu        sync.Mutex   // guards every field below
	keys      []signingKey // the first signs; all are published
	users     map[string]User
	clients   map[string]Client
	requests  map[string]*authRequest // by request ID
	codes     map[string]string       // authorization code → request ID
	tokens    map[string]accessToken  // by token ID
	devices   map[string]*op.DeviceAuthorizationState
	userCodes map[string]string // user code → device code
}

type accessToken struct {
	subject string
	scopes  []string
	expiry  time.Time
}

func newStore(key *rsa.PrivateKey, idTokenLifetime time.Duration) *store {
	return &store{
		keys:            []signingKey{{id: randomID(), key: key}},
		idTokenLifetime: idTokenLifetime,
		users:           map[string]User{},
		clients:         map[string]Client{},
		requests:        map[string]*authRequest{},
		codes:           map[string]string{},
		tokens:          map[string]accessToken{},
		devices:         map[string]*op.DeviceAuthorizationState{},
		userCodes:       map[string]string{},
	}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

var errNotFound = errors.New("not found")

func (s *store) putUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Groups = slices.Clone(u.Groups)
	s.users[u.Name] = u
}

func (s *store) putClient(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	s.clients[c.ID] = c
}

// checkPassword returns the user's subject when name and password match.
func (s *store) checkPassword(name, password string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return "", false
	}
	return u.Subject, true
}

// userBySubject must be called with mu held.
func (s *store) userBySubject(subject string) (User, bool) {
	for _, u := range s.users {
		if u.Subject == subject {
			return u, true
		}
	}
	return User{}, false
}

// completeAuthRequest marks the request as authenticated by subject.
func (s *store) completeAuthRequest(id, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return fmt.Errorf("auth request %q: %w", id, errNotFound)
	}
	r.subject, r.done, r.authTime = subject, true, time.Now()
	return nil
}

// authRequest implements op.AuthRequest. The store hands out copies, so the
// library never reads a value the store changes.
type authRequest struct {
	id            string
	clientID      string
	redirectURI   string
	scopes        []string
	state         string
	nonce         string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	subject       string
	authTime      time.Time
	done          bool
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (r *authRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.codeChallenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }

func (r *authRequest) copy() *authRequest {
	c := *r
	c.scopes = slices.Clone(r.scopes)
	return &c
}

// CreateAuthRequest implements op.AuthStorage.
func (s *store) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	r := &authRequest{
		id:           randomID(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		scopes:       slices.Clone(req.Scopes),
		state:        req.State,
		nonce:        req.Nonce,
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
	}
	if req.CodeChallenge != "" {
		r.codeChallenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.id] = r
	return r.copy(), nil
}

// AuthRequestByID implements op.AuthStorage.
func (s *store) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return nil, fmt.Errorf("auth request %q: %w", id, errNotFound)
	}
	return r.copy(), nil
}

// AuthRequestByCode implements op.AuthStorage.
func (s *store) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[s.codes[code]]
	if !ok {
		return nil, fmt.Errorf("authorization code: %w", errNotFound)
	}
	return r.copy(), nil
}

// SaveAuthCode implements op.AuthStorage.
func (s *store) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest implements op.AuthStorage; the library calls it once the
// code is exchanged, which makes codes single-use.
func (s *store) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// CreateAccessToken implements op.AuthStorage.
func (s *store) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, expiry := randomID(), time.Now().Add(5*time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = accessToken{subject: req.GetSubject(), scopes: slices.Clone(req.GetScopes()), expiry: expiry}
	return id, expiry, nil
}

var errUnsupported = errors.New("not supported by the test provider")

// CreateAccessAndRefreshTokens implements op.AuthStorage; no client of the test
// provider may use refresh tokens.
func (s *store) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, fmt.Errorf("refresh tokens: %w", errUnsupported)
}

// TokenRequestByRefreshToken implements op.AuthStorage.
func (s *store) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession implements op.AuthStorage.
func (s *store) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken implements op.AuthStorage.
func (s *store) RevokeToken(_ context.Context, tokenID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenID)
	return nil
}

// GetRefreshTokenInfo implements op.AuthStorage.
func (s *store) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// signingKey and publicKey implement op.SigningKey and op.Key.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// SigningKey implements op.AuthStorage.
func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	return s.signingKey(), nil
}

func (s *store) signingKey() signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0]
}

// rotate makes key the signing key; the others stay published.
func (s *store) rotate(key *rsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]signingKey{{id: randomID(), key: key}}, s.keys...)
}

// SignatureAlgorithms implements op.AuthStorage.
func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.AuthStorage: the JWKS.
func (s *store) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		keys[i] = publicKey{k}
	}
	return keys, nil
}

// GetClientByClientID implements op.OPStorage.
func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, fmt.Errorf("client %q: %w", id, errNotFound)
	}
	return client{Client: c, idTokenLifetime: s.idTokenLifetime}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage.
func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || c.Secret == "" || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return fmt.Errorf("client %q: wrong secret", id)
	}
	return nil
}

// SetUserinfoFromScopes implements op.OPStorage; the library asks that it do
// nothing and SetUserinfoFromRequest do the work.
func (s *store) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the claims of
// an ID token.
func (s *store) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

// SetUserinfoFromToken implements op.OPStorage: the userinfo endpoint.
func (s *store) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	tok, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || tok.subject != subject || time.Now().After(tok.expiry) {
		return fmt.Errorf("access token: %w", errNotFound)
	}
	return s.setUserinfo(info, subject, tok.scopes)
}

func (s *store) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userBySubject(subject)
	if !ok {
		return fmt.Errorf("user %q: %w", subject, errNotFound)
	}
	info.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			info.PreferredUsername, info.Name = u.Name, u.Name
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, true
		case scopeGroups:
			info.AppendClaims("groups", append([]string{}, u.Groups...)) // [] rather than null
		}
	}
	return nil
}

const scopeGroups = "groups"

// SetIntrospectionFromToken implements op.OPStorage.
func (s *store) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[tokenID]
	if !ok || tok.subject != subject {
		return fmt.Errorf("access token: %w", errNotFound)
	}
	resp.Active, resp.Subject, resp.ClientID = true, subject, clientID
	return nil
}

// GetPrivateClaimsFromScopes implements op.OPStorage (claims of JWT access
// tokens, which the test provider does not issue).
func (s *store) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.OPStorage (JWT profile grants).
func (s *store) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("JWT profile: %w", errUnsupported)
}

// ValidateJWTProfileScopes implements op.OPStorage.
func (s *store) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, fmt.Errorf("JWT profile: %w", errUnsupported)
}

// Health implements op.Storage.
func (s *store) Health(context.Context) error { return nil }

// StoreDeviceAuthorization implements op.DeviceAuthorizationStorage.
func (s *store) StoreDeviceAuthorization(_ context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.userCodes[userCode]; dup {
		return op.ErrDuplicateUserCode
	}
	s.userCodes[userCode] = deviceCode
	s.devices[deviceCode] = &op.DeviceAuthorizationState{
		ClientID: clientID,
		Audience: []string{clientID},
		Scopes:   slices.Clone(scopes),
		Expires:  expires,
	}
	return nil
}

// GetDeviceAuthorizatonState implements op.DeviceAuthorizationStorage.
func (s *store) GetDeviceAuthorizatonState(_ context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[deviceCode]
	if !ok || d.ClientID != clientID {
		return nil, fmt.Errorf("device code: %w", errNotFound)
	}
	c := *d
	c.Scopes = slices.Clone(d.Scopes)
	return &c, nil
}

// decideDevice records the user's answer to a device authorization.
func (s *store) decideDevice(userCode, subject string, approve bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[s.userCodes[userCode]]
	if !ok || time.Now().After(d.Expires) {
		return fmt.Errorf("user code %q: %w", userCode, errNotFound)
	}
	if !approve {
		d.Denied = true
		return nil
	}
	d.Done, d.Subject, d.AMR, d.AuthTime = true, subject, []string{"pwd"}, time.Now()
	return nil
}

// client implements op.Client.
type client struct {
	Client
	idTokenLifetime time.Duration
}

func (c client) GetID() string                    { return c.ID }
func (c client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return nil }

func (c client) ApplicationType() op.ApplicationType {
	if c.Secret == "" {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c client) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c client) GrantTypes() []oidc.GrantType {
	grants := []oidc.GrantType{oidc.GrantTypeCode}
	if c.Device {
		grants = append(grants, oidc.GrantTypeDeviceCode)
	}
	return grants
}

func (c client) LoginURL(id string) string           { return loginPath + "?authRequestID=" + id }
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return c.idTokenLifetime }
func (c client) DevMode() bool                       { return false }
func (c client) IsScopeAllowed(scope string) bool    { return scope == scopeGroups }
func (c client) ClockSkew() time.Duration            { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// IDTokenUserinfoClaimsAssertion puts email and profile claims in the ID token
// even when an access token is issued too, as most providers do.
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
