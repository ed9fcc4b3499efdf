package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// lockstep login --sso: the CLI signs in with the server's identity provider
// as its public client (the provider and the client are the server's to
// tell: GET /api/v1/auth/config), with PKCE and a loopback redirect, or with
// the device grant; it trades the ID token for a server session and forgets
// the provider's tokens.

// showSignIn tells the user where to sign in: the provider's URL, and for the
// device flow the code to enter there (empty for the browser flow).
type showSignIn func(cmd *cobra.Command, url, userCode string) error

// showSignInURL prints the URL and, for the browser flow, tries to open it
// with the desktop's opener; there need not be one.
func showSignInURL(cmd *cobra.Command, url, userCode string) error {
	w := cmd.ErrOrStderr()
	if userCode != "" {
		fmt.Fprintf(w, "To sign in, open this page on any device and enter the code %s:\n  %s\nWaiting for the sign-in...\n", userCode, url)
		return nil
	}
	fmt.Fprintf(w, "To sign in, open this page in a browser on this machine:\n  %s\nWaiting for the sign-in...\n", url)
	openInBrowser(url)
	return nil
}

// openInBrowser starts the desktop's URL opener, if there is one, and does
// not wait for it.
func openInBrowser(url string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return
	}
	c := exec.Command(path, url)
	if c.Start() == nil {
		go func() { _ = c.Wait() }()
	}
}

func checkSSOFlags(sso, device bool, token, username string, passwordStdin bool) error {
	switch {
	case device && !sso:
		return errors.New("--device goes with --sso")
	case sso && (token != "" || username != "" || passwordStdin):
		return errors.New("--sso signs in with the identity provider: it takes no --token, --username or --password-stdin")
	}
	return nil
}

// loginSSO signs in with the identity provider of the server c talks to and
// returns the session token the server opened.
func loginSSO(ctx context.Context, cmd *cobra.Command, c *server.Client, opts server.ClientOptions, device bool, show showSignIn) (string, error) {
	cfg, err := c.AuthConfig(ctx)
	var se *server.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return "", fmt.Errorf("%s does not offer single sign-on (a controller older than it): log in with --username or --token", opts.Server)
	case err != nil:
		return "", fmt.Errorf("asking %s how to sign in: %w", opts.Server, err)
	case cfg.SSO == nil:
		return "", fmt.Errorf("%s has no single sign-on configured (the controller's --oidc-issuer): log in with --username or --token", opts.Server)
	case cfg.SSO.CLIClientID == "":
		return "", fmt.Errorf("%s has no client for the CLI at its identity provider (the controller's --oidc-cli-client-id): "+
			"log in with --username, or with an API token made after signing in through the browser", opts.Server)
	}
	roots, err := providerRoots([]byte(cfg.SSO.CertificateAuthority), opts.CAData)
	if err != nil {
		return "", err
	}
	rp, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: cfg.SSO.Issuer, ClientID: cfg.SSO.CLIClientID, Scopes: cfg.SSO.Scopes,
		UsernameClaim: cfg.SSO.UsernameClaim, GroupsClaim: cfg.SSO.GroupsClaim, RootCAs: roots})
	if err != nil {
		return "", err
	}
	var idToken string
	if device {
		var code string
		idToken, _, err = rp.LoginDevice(ctx, auth.OIDCCLIOptions{
			UserCode: func(c string) { code = c },
			Open:     func(url string) error { return show(cmd, url, code) },
		})
	} else {
		idToken, _, err = rp.LoginLoopback(ctx, auth.OIDCCLIOptions{
			Open: func(url string) error { return show(cmd, url, "") },
		})
	}
	if err != nil {
		return "", err
	}
	s, err := c.LoginSSO(ctx, idToken)
	if err != nil {
		return "", fmt.Errorf("%s refused the sign-in: %w", opts.Server, err)
	}
	return s.Token, nil
}

// providerRoots are the CAs the CLI trusts the provider's certificate by: the
// system's, the one the server names (it names the provider too, so trusting
// its CA adds no trust) and the server's own (--certificate-authority, often
// the same perimeter CA). Nil when there is nothing to add.
func providerRoots(pems ...[]byte) (*x509.CertPool, error) {
	var pool *x509.CertPool
	for _, pem := range pems {
		if len(pem) == 0 {
			continue
		}
		if pool == nil {
			var err error
			if pool, err = x509.SystemCertPool(); err != nil {
				pool = x509.NewCertPool()
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("the identity provider's certificate authority holds no PEM certificate")
		}
	}
	return pool, nil
}
