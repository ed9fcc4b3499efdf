package cli

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// addOIDCFlags adds the controller's single sign-on flags (docs/sso.md).
func addOIDCFlags(f *pflag.FlagSet, o *controller.OIDCOptions) {
	f.StringVar(&o.Issuer, "oidc-issuer", "", "single sign-on: the OpenID provider's issuer URL, exactly as its discovery document states it (empty: SSO off)")
	f.StringVar(&o.ClientID, "oidc-client-id", "", "single sign-on: the client registered for the browser sign-in")
	f.StringVar(&o.ClientSecretFile, "oidc-client-secret-file", "", "single sign-on: file holding the browser client's secret (a mounted Secret); none: a public client, protected by PKCE alone")
	f.StringVar(&o.CLIClientID, "oidc-cli-client-id", "", "single sign-on: the public client lockstep login --sso signs in as (redirect http://127.0.0.1"+auth.OIDCLoopbackPath+"); empty: the CLI cannot sign in with SSO")
	f.StringVar(&o.RedirectURL, "oidc-redirect-url", "", "single sign-on: https://<the API's name>"+server.PathAuthCallback+", as registered with the provider (required with --oidc-issuer)")
	f.StringVar(&o.CAFile, "oidc-ca-file", "", "single sign-on: PEM file of the CA that signed the provider's certificate, trusted besides the system's (and shown to the CLI)")
	f.StringVar(&o.UsernameClaim, "oidc-username-claim", auth.DefaultOIDCUsernameClaim, "single sign-on: the ID-token claim that names the user (the RBAC subject); a value that is a local account's name is refused")
	f.StringVar(&o.GroupsClaim, "oidc-groups-claim", auth.DefaultOIDCGroupsClaim, "single sign-on: the ID-token claim that lists the user's groups, matched by the RBAC policy's g lines")
	f.StringSliceVar(&o.Scopes, "oidc-scopes", auth.DefaultOIDCScopes, "single sign-on: scopes to request ("+strings.Join(auth.DefaultOIDCScopes, ",")+" unless set; openid is always added)")
}
