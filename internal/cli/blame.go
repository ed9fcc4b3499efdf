package cli

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newBlameCommand() *cobra.Command {
	var lf ledgerFlags
	var field, output string
	cmd := &cobra.Command{
		Use:   "blame KIND/NAME",
		Short: "For each field Lockstep manages on a live object, the commit and sync that set it",
		Long: `Reads the live object and its field owners, and walks the audit ledger back to the
sync that last set each field Lockstep manages: the revision, the commit's subject, author
and approvers, and when it was applied. Fields whose live value is no longer Git's (a drift
not reverted, or another field manager that took the field over) are flagged with who
changed them and when.

With --field, shows one field (or every field under a path) in full: the commit, its
approvers and tickets, and which objects the same sync changed and whose Pods it replaced.`,
		Example: `  lockstep blame deployment/webapp -n webapp-prod
  lockstep blame deployment/webapp -n webapp-prod --field spec.template.spec.containers[0].resources.limits.memory
  lockstep blame configmaps/settings -n team-a -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, ok := strings.Cut(args[0], "/")
			if !ok || kind == "" || name == "" || strings.Contains(name, "/") {
				return fmt.Errorf("%q: want KIND/NAME, e.g. deployment/webapp", args[0])
			}
			api, closeAPI, err := lf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAPI()
			b, err := api.Blame(cmd.Context(), server.BlameRequest{Kind: kind, Namespace: lf.namespace(), Name: name})
			if err != nil {
				return err
			}
			if field != "" {
				b.Fields = fieldsUnder(b.Fields, field)
				if len(b.Fields) == 0 {
					return fmt.Errorf("no field at or under %s on %s is managed by Lockstep (run without --field to list them)", field, server.FormatObjectRef(b.Object))
				}
			}
			switch {
			case output == "json" || output == "yaml":
				return printObject(cmd.OutOrStdout(), output, b)
			case field != "":
				printFieldDetail(cmd.OutOrStdout(), b)
			default:
				return printBlame(cmd.OutOrStdout(), b)
			}
			return nil
		},
	}
	lf.add(cmd, true)
	cmd.Flags().StringVar(&field, "field", "", "show this field, or every field under this path, in full")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
}

func fieldsUnder(fields []audit.FieldBlame, path string) []audit.FieldBlame {
	var out []audit.FieldBlame
	for _, f := range fields {
		if object.Within(f.Path, path) {
			out = append(out, f)
		}
	}
	return out
}

func printBlame(out io.Writer, b audit.Blame) error {
	fmt.Fprintf(out, "%s", server.FormatObjectRef(b.Object))
	if b.Created != nil {
		fmt.Fprintf(out, ", created by #%d at %s (%s)", b.Created.Seq, when(b.Created.Time), short(b.Created.Revision))
	}
	fmt.Fprintln(out)
	if len(b.Fields) == 0 {
		fmt.Fprintln(out, "no field of it is managed by Lockstep")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIELD\tVALUE\t#\tSYNCED\tREVISION\tAUTHOR\tAPPROVED BY\tSUBJECT")
	for _, f := range b.Fields {
		if r := f.SetBy; r != nil {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", f.Path, trim(f.Value, 40), r.Seq, when(r.Time), short(r.Revision), author(*r), approvers(r), subject(*r))
		} else {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\t-\t(not in the ledger)\n", f.Path, trim(f.Value, 40))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Flags below the table: as table rows they would widen its columns.
	for _, f := range b.Fields {
		if len(f.Flags) == 0 {
			continue
		}
		fmt.Fprintf(out, "\n%s may not be what Git says:\n", f.Path)
		for _, flag := range f.Flags {
			fmt.Fprintf(out, "  ! %s\n", flag)
		}
	}
	return nil
}

func printFieldDetail(out io.Writer, b audit.Blame) {
	for i, f := range b.Fields {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s %s = %s\n", server.FormatObjectRef(b.Object), f.Path, f.Value)
		for _, flag := range f.Flags {
			fmt.Fprintf(out, "  ! %s\n", flag)
		}
		for _, r := range f.Reverted {
			fmt.Fprintf(out, "  drift      %s\n", r)
		}
		for _, o := range f.Owners {
			fmt.Fprintf(out, "  owner      %s (%s) %s\n", o.Manager, o.Operation, o.Time)
		}
		r := f.SetBy
		if r == nil {
			fmt.Fprintln(out, "  set by     no record in the ledger (set before it began, or cut by retention)")
			continue
		}
		fmt.Fprintf(out, "  set by     ledger record #%d, %s %s at %s (trigger %s, by %s)\n", r.Seq, r.Event, strings.ToLower(string(r.Result)), r.Time.UTC().Format("2006-01-02T15:04:05Z"), dash(r.Trigger), r.Actor)
		fmt.Fprintf(out, "  revision   %s\n", dash(r.Revision))
		if c := r.Commit; c != nil {
			fmt.Fprintf(out, "  commit     %s\n", c.Subject)
			fmt.Fprintf(out, "  author     %s\n", c.Author)
			if !c.Time.IsZero() {
				fmt.Fprintf(out, "  committed  %s by %s\n", c.Time.UTC().Format("2006-01-02T15:04:05Z"), c.Committer)
			}
			fmt.Fprintf(out, "  approved   %s\n", dash(strings.Join(c.ApprovedBy, ", ")))
			if len(c.ReviewedBy) > 0 {
				fmt.Fprintf(out, "  reviewed   %s\n", strings.Join(c.ReviewedBy, ", "))
			}
			if len(c.Tickets) > 0 {
				fmt.Fprintf(out, "  tickets    %s\n", strings.Join(c.Tickets, ", "))
			}
			if c.SignatureKey != "" {
				trust := "signature not verified"
				if c.TrustedKey != "" {
					trust = "verified with " + c.TrustedKey
				}
				fmt.Fprintf(out, "  signed     %s (%s)\n", c.SignatureKey, trust)
			}
		}
		for _, ch := range r.Changes {
			if ch.Ref() == b.Object {
				for _, fc := range ch.Fields {
					if object.Within(f.Path, fc.Path) || object.Within(fc.Path, f.Path) {
						fmt.Fprintf(out, "  changed    %s: %s → %s\n", fc.Path, dash(fc.From), dash(fc.To))
					}
				}
			}
		}
		fmt.Fprintln(out, "  that sync:")
		for _, ch := range r.Changes {
			line := "    " + strings.ToLower(string(ch.Action)) + " " + ch.Object()
			if ch.Rollout {
				line += " (Pods recreated)"
			}
			fmt.Fprintln(out, line)
		}
	}
}

func approvers(r *audit.Record) string {
	if r.Commit == nil || len(r.Commit.ApprovedBy) == 0 {
		return "-"
	}
	names := make([]string, len(r.Commit.ApprovedBy))
	for i, a := range r.Commit.ApprovedBy {
		names[i], _, _ = strings.Cut(a, " <")
	}
	return strings.Join(names, ", ")
}

func parseTrusted(pem []byte) (ed25519.PublicKey, error) {
	if pem == nil {
		return nil, nil
	}
	return audit.ParsePublicKey(pem)
}
