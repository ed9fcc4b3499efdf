package auth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

// cliOIDC is the CLI's relying party: the public client, no secret.
func cliOIDC(t *testing.T, p *oidc.Provider) *auth.OIDC {
	t.Helper()
	return newOIDC(t, auth.OIDCConfig{Issuer: p.Issuer, ClientID: cliClient, RootCAs: p.CertPool()})
}

// browse requests the redirect the provider sent, as the browser does, and
// returns the page the CLI showed.
func browse(ctx context.Context, redirect string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, redirect, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), err
}

func TestLoginLoopback(t *testing.T) {
	p := startProvider(t, oidc.WithTLS())
	var page string
	raw, got, err := cliOIDC(t, p).LoginLoopback(t.Context(), auth.OIDCCLIOptions{
		Open: func(authURL string) error {
			if !strings.Contains(authURL, "code_challenge_method=S256") {
				t.Errorf("authorization URL %s asks for no S256 PKCE challenge", authURL)
			}
			redirect, err := p.Login(t.Context(), authURL, "alice", "pw")
			if err != nil {
				return err
			}
			if !strings.HasPrefix(redirect, "http://127.0.0.1:") {
				t.Errorf("redirected to %s, not to the loopback listener", redirect)
			}
			var status int
			status, page, err = browse(t.Context(), redirect)
			if status != http.StatusOK {
				t.Errorf("callback page: %d %s", status, page)
			}
			return err
		},
	})
	if err != nil {
		t.Fatalf("LoginLoopback: %v", err)
	}
	if diff := cmp.Diff(wantAlice(p), got, ignoreExpiry); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	if !strings.Contains(page, "signed in as alice@example.test") {
		t.Errorf("the browser was shown %q", page)
	}
	// The server accepts the CLI's ID token because CLIClientID names the CLI.
	server := newOIDC(t, serverConfig(p))
	if id, err := server.Verify(t.Context(), raw); err != nil || id.Username != got.Username {
		t.Errorf("the server's Verify of the CLI's token: %+v, %v", id, err)
	}
}

func TestLoginLoopbackRefusals(t *testing.T) {
	p := startProvider(t)
	o := cliOIDC(t, p)
	tests := []struct {
		name string
		// open plays the user and the browser.
		open    func(authURL string) error
		timeout time.Duration
		want    string
	}{
		{
			name: "the user cancels",
			open: func(authURL string) error {
				redirect, err := p.Deny(t.Context(), authURL)
				if err == nil {
					_, _, err = browse(t.Context(), redirect)
				}
				return err
			},
			want: "refused the login: access_denied (the user cancelled the sign-in)",
		},
		{
			name: "state mismatch",
			open: func(authURL string) error {
				redirect, err := p.Login(t.Context(), authURL, "alice", "pw")
				if err != nil {
					return err
				}
				u, _ := url.Parse(redirect)
				q := u.Query()
				q.Set("state", "forged")
				u.RawQuery = q.Encode()
				status, page, err := browse(t.Context(), u.String())
				if status != http.StatusBadRequest || !strings.Contains(page, "sign-in failed") {
					t.Errorf("callback page: %d %q", status, page)
				}
				return err
			},
			want: "state is not the one this login sent",
		},
		{
			name: "no code",
			open: func(authURL string) error {
				u, _ := url.Parse(authURL)
				q := u.Query()
				_, _, err := browse(t.Context(), q.Get("redirect_uri")+"?state="+url.QueryEscape(q.Get("state")))
				return err
			},
			want: "neither a code nor an error",
		},
		{
			name:    "the browser never comes back",
			open:    func(string) error { return nil },
			timeout: 300 * time.Millisecond,
			want:    "did not come back",
		},
		{
			name: "the URL cannot be shown",
			open: func(string) error { return errors.New("no terminal") },
			want: "showing the sign-in URL: no terminal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, id, err := o.LoginLoopback(t.Context(), auth.OIDCCLIOptions{Open: tt.open, Timeout: tt.timeout})
			wantErr(t, err, nil, tt.want)
			if raw != "" || id.Subject != "" {
				t.Errorf("a failed login returned a token or an identity: %q %+v", raw, id)
			}
		})
	}
	t.Run("the provider's error is typed", func(t *testing.T) {
		_, _, err := o.LoginLoopback(t.Context(), auth.OIDCCLIOptions{Open: tests[0].open})
		var perr *auth.OIDCProviderError
		if !errors.As(err, &perr) || perr.Code != "access_denied" {
			t.Errorf("got %v, want an OIDCProviderError with code access_denied", err)
		}
	})
}

// Only the first redirect counts: a second one (a replay, or a local process
// racing the browser) is turned away.
func TestLoginLoopbackAnswersOnce(t *testing.T) {
	p := startProvider(t)
	_, _, err := cliOIDC(t, p).LoginLoopback(t.Context(), auth.OIDCCLIOptions{
		Open: func(authURL string) error {
			redirect, err := p.Login(t.Context(), authURL, "alice", "pw")
			if err != nil {
				return err
			}
			if _, _, err := browse(t.Context(), redirect); err != nil {
				return err
			}
			if status, page, _ := browse(t.Context(), redirect); status != http.StatusGone {
				t.Errorf("second callback: %d %q, want 410", status, page)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoginDevice(t *testing.T) {
	p := startProvider(t)
	o := cliOIDC(t, p)
	login := func(approve bool) (auth.Identity, error) {
		var code string
		_, id, err := o.LoginDevice(t.Context(), auth.OIDCCLIOptions{
			UserCode: func(c string) { code = c },
			Open: func(verificationURL string) error {
				if !strings.HasPrefix(verificationURL, p.Issuer+"/device") {
					t.Errorf("verification URL %s", verificationURL)
				}
				if approve {
					return p.ApproveDevice(t.Context(), code, "alice", "pw")
				}
				return p.DenyDevice(t.Context(), code, "alice", "pw")
			},
		})
		return id, err
	}
	got, err := login(true)
	if err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	if diff := cmp.Diff(wantAlice(p), got, ignoreExpiry); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	_, err = login(false)
	var perr *auth.OIDCProviderError
	if !errors.As(err, &perr) || perr.Code != "access_denied" {
		t.Errorf("denied device login: got %v, want an OIDCProviderError with code access_denied", err)
	}
}
