package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

func newAccountCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Local accounts of the API: change your password; list, create, reset and delete accounts",
	}
	var a apiFlags
	var stdin bool
	var listOutput string
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change your own password (every session of the old one ends)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			current, next, err := twoPasswords(cmd, stdin)
			if err != nil {
				return err
			}
			if err := c.ChangePassword(cmd.Context(), current, next); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "password changed; every session of the old one has ended: lockstep login again")
			return nil
		},
	}
	a.add(passwd)
	passwd.Flags().BoolVar(&stdin, "password-stdin", false, "read the current and the new password from standard input, one per line")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the local accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			accounts, err := c.Accounts(cmd.Context())
			if err != nil {
				return err
			}
			if listOutput != "" {
				return printObject(cmd.OutOrStdout(), listOutput, accounts)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tCAN LOG IN\tDISABLED\tPASSWORD CHANGED")
			for _, acct := range accounts {
				changed := "-"
				if !acct.PasswordChanged.IsZero() {
					changed = acct.PasswordChanged.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%v\t%v\t%s\n", acct.Name, acct.CanLogin, acct.Disabled, changed)
			}
			return w.Flush()
		},
	}
	a.add(list)
	list.Flags().StringVarP(&listOutput, "output", "o", "", "json or yaml (default: a table)")

	var createStdin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a local account (give it roles with g lines in the RBAC ConfigMap lockstep-rbac)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			password, err := readPassword(cmd, createStdin)
			if err != nil {
				return err
			}
			if err := c.CreateAccount(cmd.Context(), args[0], password); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account %s created\n", args[0])
			return nil
		},
	}
	a.add(create)
	create.Flags().BoolVar(&createStdin, "password-stdin", false, "read the password from standard input")

	var resetStdin bool
	reset := &cobra.Command{
		Use:   "set-password NAME",
		Short: "Set another account's password (an administrator's action; its sessions end)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			password, err := readPassword(cmd, resetStdin)
			if err != nil {
				return err
			}
			if err := c.SetPassword(cmd.Context(), args[0], password); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s set; its sessions have ended\n", args[0])
			return nil
		},
	}
	a.add(reset)
	reset.Flags().BoolVar(&resetStdin, "password-stdin", false, "read the password from standard input")

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a local account; its sessions end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteAccount(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account %s deleted\n", args[0])
			return nil
		},
	}
	a.add(del)
	cmd.AddCommand(passwd, list, create, reset, del)
	return cmd
}

// twoPasswords reads the current and the new password.
func twoPasswords(cmd *cobra.Command, stdin bool) (current, next string, err error) {
	if stdin {
		raw, err := readPassword(cmd, true)
		if err != nil {
			return "", "", err
		}
		current, next, ok := strings.Cut(raw, "\n")
		if !ok {
			return "", "", errors.New("give the current and the new password on two lines")
		}
		return strings.TrimRight(current, "\r"), strings.TrimRight(next, "\r\n"), nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Current ")
	if current, err = readPassword(cmd, false); err != nil {
		return "", "", err
	}
	fmt.Fprint(cmd.ErrOrStderr(), "New ")
	next, err = readPassword(cmd, false)
	return current, next, err
}

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "API tokens for automation: create (shown once), list, revoke",
	}
	var a apiFlags
	var req auth.TokenRequest
	var output, listOutput string
	create := &cobra.Command{
		Use:   "create NAME --role ROLE [--project PROJECT] [--expires-in 720h]",
		Short: "Create an API token acting with the given roles, for the given Projects only; it is printed once",
		Example: `  lockstep token create ci-deploy --role role:deployer --project payments --expires-in 2160h
  export LOCKSTEP_TOKEN=$(lockstep token create reader --role role:readonly -o token)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			req.Name = args[0]
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			switch output {
			case "token":
				fmt.Fprintln(cmd.OutOrStdout(), t.Token)
				return nil
			case "":
				fmt.Fprintf(cmd.OutOrStdout(), "token %s (id %s) acts as %s until %s.\nIt is shown this once; keep it in a secret store:\n\n%s\n",
					t.Info.Name, t.Info.ID, strings.Join(t.Info.Roles, ", "), t.Info.ExpiresAt.Local().Format(time.DateTime), t.Token)
				return nil
			}
			return printObject(cmd.OutOrStdout(), output, t)
		},
	}
	a.add(create)
	create.Flags().StringSliceVar(&req.Roles, "role", nil, "a role the token acts with (repeat or comma-separate); at least one")
	create.Flags().StringSliceVar(&req.Projects, "project", nil, "a Project (glob) the token is limited to (repeat); none: every Project its roles reach")
	create.Flags().StringVar(&req.ExpiresIn, "expires-in", "720h", "how long the token lasts (at most a year)")
	create.Flags().StringVarP(&output, "output", "o", "", "token (only the token), json or yaml")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			tokens, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if listOutput != "" {
				return printObject(cmd.OutOrStdout(), listOutput, tokens)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tROLES\tPROJECTS\tCREATED BY\tEXPIRES")
			for _, t := range tokens {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Roles, ","), orDash(strings.Join(t.Projects, ",")), t.CreatedBy, t.ExpiresAt.Local().Format(time.DateTime))
			}
			return w.Flush()
		},
	}
	a.add(list)
	list.Flags().StringVarP(&listOutput, "output", "o", "", "json or yaml (default: a table)")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	a.add(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}
