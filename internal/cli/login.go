package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

func newLoginCommand() *cobra.Command { return newLoginCommandWith(showSignInURL) }

// newLoginCommandWith is login with show telling the user where to sign in
// with --sso; tests sign in at the provider there instead.
func newLoginCommandWith(show showSignIn) *cobra.Command {
	var a apiFlags
	var username, name, namespace string
	var passwordStdin, sso, device bool
	cmd := &cobra.Command{
		Use:   "login --server https://HOST:PORT",
		Short: "Log in to a Lockstep API and keep the session as a context",
		Long: `Logs in to the Lockstep API at --server with a local account's password (asked for
on the terminal, or read from standard input with --password-stdin), or checks an API
token given with --token, and saves the server, the CA and the credential as a context
in the configuration file (lockstep context shows them). Commands then use the API
without any kubeconfig.

With --sso it signs in with the server's identity provider instead: in a browser (it
prints the URL, and opens it when it can), or with --device on another device, for a
terminal without a browser. The server's session is saved; the provider's tokens are not.`,
		Example: `  lockstep login --server https://lockstep.internal:8443 --username alice
  echo "$PASSWORD" | lockstep login --server https://127.0.0.1:8443 --username admin --password-stdin --certificate-authority ca.pem
  lockstep login --server https://lockstep.internal:8443 --token "$LOCKSTEP_CI_TOKEN" --name ci
  lockstep login --server https://lockstep.internal:8443 --sso
  lockstep login --server https://lockstep.internal:8443 --sso --device`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, _, err := a.resolve()
			if err != nil {
				return err
			}
			if a.server == "" && r.Server == "" {
				return errors.New("give --server https://HOST:PORT")
			}
			if err := checkSSOFlags(sso, device, a.token, username, passwordStdin); err != nil {
				return err
			}
			opts := r.ClientOptions
			opts.Server = firstOf(a.server, r.Server)
			opts.Token, opts.AllowNoToken = a.token, true
			c, err := server.NewClientWith(opts)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			token := a.token
			if sso {
				if token, err = loginSSO(ctx, cmd, c, opts, device, show); err != nil {
					return err
				}
			} else if token == "" {
				if passwordStdin && username == "" {
					return &UsageError{errors.New("--password-stdin reads only the password: give --username too")}
				}
				if username == "" {
					if username, err = prompt(cmd, "Username: "); err != nil {
						return err
					}
				}
				password, err := readPassword(cmd, passwordStdin)
				if err != nil {
					return err
				}
				s, err := c.Login(ctx, username, password)
				if err != nil {
					return fmt.Errorf("logging in to %s: %w", opts.Server, err)
				}
				token = s.Token
			}
			opts.Token, opts.AllowNoToken = token, false
			if c, err = server.NewClientWith(opts); err != nil {
				return err
			}
			who, err := c.Whoami(ctx)
			if err != nil {
				return fmt.Errorf("checking the credential with %s: %w", opts.Server, err)
			}
			cfg, path, err := LoadConfig()
			if err != nil {
				return err
			}
			if name == "" {
				u, _ := url.Parse(opts.Server)
				name = u.Host
			}
			cfg.Put(ServerContext{Name: name, Server: opts.Server, User: who.Name, Token: token, Namespace: namespace,
				CertificateAuthority: string(opts.CAData), InsecureSkipTLSVerify: opts.InsecureSkipVerify})
			if err := cfg.Save(path); err != nil {
				return fmt.Errorf("saving the context: %w", err)
			}
			until := ""
			if !who.ExpiresAt.IsZero() {
				until = ", until " + who.ExpiresAt.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (%s%s); context %q saved in %s\n", opts.Server, who.Name, who.Method, until, name, path)
			return nil
		},
	}
	a.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&username, "username", "u", "", "the local account (asked for when not given)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	f.BoolVar(&sso, "sso", false, "sign in with the server's identity provider, in a browser")
	f.BoolVar(&device, "device", false, "with --sso: sign in on another device (a code to enter at the provider's page)")
	f.StringVar(&name, "name", "", "the context's name (default: the server's host:port)")
	f.StringVarP(&namespace, "namespace", "n", "", "the namespace of Applications named without one (default \"default\")")
	return cmd
}

func prompt(cmd *cobra.Command, question string) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// readPassword reads a password from standard input (one line) or, on a
// terminal, without echoing it.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(raw), "\r\n"), nil
	}
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the password on: use --password-stdin")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	raw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	return string(raw), err
}

func newLogoutCommand() *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End the session of the current (or --context) context and forget its token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := LoadConfig()
			if err != nil {
				return err
			}
			sc, err := cfg.Context(a.context)
			if err != nil {
				return err
			}
			if sc == nil || sc.Token == "" {
				return errors.New("not logged in")
			}
			c, err := server.NewClientWith(server.ClientOptions{Server: sc.Server, Token: sc.Token, CAData: []byte(sc.CertificateAuthority), InsecureSkipVerify: sc.InsecureSkipTLSVerify})
			if err != nil {
				return err
			}
			// An expired or revoked session is over already; anything else
			// (the server unreachable) is said, and the token forgotten anyway.
			var se *server.StatusError
			if err := c.Logout(cmd.Context()); err != nil && !(errors.As(err, &se) && se.Code == 401) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the server did not end the session (%v); the token is forgotten here\n", err)
			}
			token := sc.Token
			sc.Token = ""
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged out of %s\n", sc.Server)
			if strings.HasPrefix(token, auth.TokenPrefix) {
				fmt.Fprintln(cmd.OutOrStdout(), "the context held an API token: it was forgotten here and stays valid until revoked (lockstep token revoke ID)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&a.context, "context", "", "the context to log out of (default: the current one)")
	return cmd
}

func newContextCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context [NAME]",
		Short: "List the API contexts, or switch to NAME",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := LoadConfig()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if _, err := cfg.Context(args[0]); err != nil {
					return err
				}
				cfg.CurrentContext = args[0]
				if err := cfg.Save(path); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "switched to context %q\n", args[0])
				return nil
			}
			if len(cfg.Contexts) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no contexts: lockstep login --server https://HOST:PORT makes one")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CURRENT\tNAME\tSERVER\tUSER\tLOGGED IN")
			for _, c := range cfg.Contexts {
				cur := ""
				if c.Name == cfg.CurrentContext {
					cur = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", cur, c.Name, c.Server, orDash(c.User), c.Token != "")
			}
			return w.Flush()
		},
	}
	return cmd
}

func newWhoamiCommand() *cobra.Command {
	var a apiFlags
	var output string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the API knows you as, how you logged in, and until when",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, who)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s)", who.Name, who.Method)
			if len(who.Groups) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", groups %s", strings.Join(who.Groups, ", "))
			}
			if len(who.Roles) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", roles %s", strings.Join(who.Roles, ", "))
			}
			if !who.ExpiresAt.IsZero() {
				fmt.Fprintf(cmd.OutOrStdout(), ", until %s", who.ExpiresAt.Local().Format("2006-01-02 15:04"))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	a.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml or json")
	return cmd
}
