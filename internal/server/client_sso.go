package server

import (
	"context"
	"net/http"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// AuthConfig asks the server how to log in besides a password: its single
// sign-on provider, if any. It needs no credential.
func (c *Client) AuthConfig(ctx context.Context) (AuthConfig, error) {
	var a AuthConfig
	err := c.do(ctx, http.MethodGet, PathAuthConfig, nil, nil, &a)
	return a, err
}

// LoginSSO trades an ID token from the server's identity provider for a
// session.
func (c *Client) LoginSSO(ctx context.Context, idToken string) (auth.Session, error) {
	var s auth.Session
	err := c.do(ctx, http.MethodPost, PathSessionSSO, nil, SSOLoginRequest{IDToken: idToken}, &s)
	return s, err
}
