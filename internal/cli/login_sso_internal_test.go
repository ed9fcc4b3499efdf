package cli

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

// ssoServer is the real API server, in this process, with single sign-on
// against a real OpenID provider: alice is in ops, which the policy makes
// read-only. withSSO false serves it without SSO.
func ssoServer(t *testing.T, withSSO bool) (*oidc.Provider, string) {
	t.Helper()
	p := oidc.Start(t)
	p.AddClient(oidc.Client{ID: "lockstep", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1:1" + server.PathAuthCallback}})
	p.AddClient(oidc.Client{ID: "lockstep-cli", RedirectURIs: []string{"http://127.0.0.1" + auth.OIDCLoopbackPath}, Device: true})
	p.AddUser(oidc.User{Name: "alice", Password: "pw", Groups: []string{"ops"}})

	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	web := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"}}
	apps := fake.NewClientBuilder().WithScheme(scheme).WithObjects(web).Build()
	policy := &rbac.Store{}
	if err := policy.Load(map[string]string{"policy.csv": "g, ops, role:readonly\n"}); err != nil {
		t.Fatal(err)
	}
	deps := server.Deps{Apps: apps, Writer: apps, Auth: authtest.New(t, auth.Options{}, map[string]string{"admin": "a long enough password"}),
		Policy: policy, Log: slog.New(slog.DiscardHandler)}
	if withSSO {
		cfg := auth.OIDCConfig{Issuer: p.Issuer, ClientID: "lockstep", ClientSecret: "s3cret", CLIClientID: "lockstep-cli",
			RedirectURL: "http://127.0.0.1:1" + server.PathAuthCallback}
		rp, err := auth.NewOIDC(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		deps.OIDC, deps.OIDCPublic = rp, server.PublicOIDC(cfg, "")
	}
	s, err := server.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// isolate gives the test a configuration file of its own and no API from the
// environment.
func isolate(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv("LOCKSTEP_CONFIG", path)
	t.Setenv("LOCKSTEP_SERVER", "")
	t.Setenv("LOCKSTEP_TOKEN", "")
	return path
}

func execute(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// signInAs plays the user at the provider: for the browser flow it signs in
// and follows the redirect to the CLI's loopback listener; for the device
// flow it approves the code.
func signInAs(t *testing.T, p *oidc.Provider, user string, approve bool) showSignIn {
	return func(_ *cobra.Command, url, userCode string) error {
		if userCode != "" {
			if approve {
				return p.ApproveDevice(t.Context(), userCode, user, "pw")
			}
			return p.DenyDevice(t.Context(), userCode, user, "pw")
		}
		redirect, err := p.Login(t.Context(), url, user, "pw")
		if !approve {
			redirect, err = p.Deny(t.Context(), url)
		}
		if err != nil {
			return err
		}
		resp, err := http.Get(redirect)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
}

func TestLoginSSO(t *testing.T) {
	p, url := ssoServer(t, true)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"browser", []string{"--sso"}},
		{"device", []string{"--sso", "--device"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := isolate(t)
			out, err := execute(t, newLoginCommandWith(signInAs(t, p, "alice", true)), append([]string{"--server", url, "--name", "sso"}, tc.args...)...)
			if err != nil {
				t.Fatalf("login: %v\n%s", err, out)
			}
			if !strings.Contains(out, "as alice@example.test (sso") || !strings.Contains(out, `context "sso" saved`) {
				t.Errorf("login said %q", out)
			}
			saved, _ := os.ReadFile(config)
			// One JWT-looking payload: the session's, none of the provider's.
			if !strings.Contains(string(saved), "token: "+auth.SessionPrefix) || strings.Count(string(saved), "eyJ") != 1 {
				t.Errorf("the configuration should hold the server's session, not the provider's tokens:\n%s", saved)
			}
			// The saved context works, with the policy's roles for alice's group.
			out, err = execute(t, NewRootCommand(), "whoami")
			if err != nil || !strings.Contains(out, "alice@example.test (sso), groups ops") {
				t.Errorf("whoami: %q, %v", out, err)
			}
			out, err = execute(t, NewRootCommand(), "get", "apps", "-A", "-o", "json")
			if err != nil || !strings.Contains(out, `"web"`) {
				t.Errorf("get apps: %q, %v", out, err)
			}
		})
	}
}

func TestLoginSSORefusals(t *testing.T) {
	p, url := ssoServer(t, true)
	_, noSSO := ssoServer(t, false)
	for _, tc := range []struct {
		name    string
		server  string
		approve bool
		args    []string
		want    string
	}{
		{"the user cancels in the browser", url, false, []string{"--sso"}, "access_denied"},
		{"the user denies the device", url, false, []string{"--sso", "--device"}, "access_denied"},
		{"no SSO on the server", noSSO, true, []string{"--sso"}, "no single sign-on configured"},
		{"device without sso", url, true, []string{"--device"}, "--device goes with --sso"},
		{"sso with a username", url, true, []string{"--sso", "--username", "admin"}, "takes no --token, --username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := isolate(t)
			out, err := execute(t, newLoginCommandWith(signInAs(t, p, "alice", tc.approve)), append([]string{"--server", tc.server}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("login: %v (%s); want an error mentioning %q", err, out, tc.want)
			}
			if _, err := os.Stat(config); err == nil {
				t.Errorf("a failed login saved a context")
			}
		})
	}
}
