package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newHistoryCommand() *cobra.Command {
	var lf ledgerFlags
	var output string
	var limit int
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "Show an Application's syncs from the audit ledger: revision, author, result, duration",
		Long: `Shows every sync of APP (NAME or NAMESPACE/NAME) recorded in the audit ledger,
newest first: when, the revision and its author, who or what triggered it, the result
and how long it took. Denials are listed too. Unlike the Application's status, which
keeps the last 10, the ledger keeps them all.`,
		Example: `  lockstep history webapp-prod -n lockstep
  lockstep history lockstep/webapp-prod -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := lf.appName(args[0])
			if err != nil {
				return err
			}
			api, closeAPI, err := lf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAPI()
			recs, err := api.Records(cmd.Context(), audit.Filter{Application: app, Events: []audit.Event{audit.EventSync, audit.EventDenied}, Limit: limit})
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				return printObject(cmd.OutOrStdout(), output, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no syncs of %s in the ledger\n", app)
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "#\tTIME\tREVISION\tAUTHOR\tTRIGGER\tBY\tRESULT\tDURATION\tCHANGES\tSUBJECT")
			for _, r := range recs {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, when(r.Time), short(r.Revision), author(r),
					dash(r.Trigger), r.Actor, result(r), duration(r.DurationMS), changeCounts(r), subject(r))
			}
			return w.Flush()
		},
	}
	lf.add(cmd, true)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	cmd.Flags().IntVar(&limit, "limit", 50, fmt.Sprintf("how many syncs to show (at most %d)", audit.MaxLimit))
	return cmd
}

func newAuditCommand() *cobra.Command {
	var lf ledgerFlags
	var output, app, since, until, author, object string
	var kinds []string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Search the audit ledger: who changed what, when and why",
		Long: `Lists ledger records, newest first: every sync attempt, drift, prune, denial and
manual action (refresh, suspend, resume), with the revision, author and actor. Filters
combine. The ledger is read through the controller's API ($LOCKSTEP_SERVER and
$LOCKSTEP_TOKEN) or from a database file (--db).

Event kinds: ` + eventNames() + `.`,
		Example: `  lockstep audit --since 24h
  lockstep audit --app lockstep/webapp-prod --kind drift,sync -o json
  lockstep audit --author alice --since 2026-11-01
  lockstep audit --object Deployment.apps/webapp-prod/webapp
  lockstep audit verify
  lockstep audit export > ledger.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := audit.Filter{Author: author, Limit: limit}
			var err error
			if app != "" {
				if f.Application, err = lf.appName(app); err != nil {
					return err
				}
			}
			for _, k := range kinds {
				e, err := audit.ParseEvent(k)
				if err != nil {
					return err
				}
				f.Events = append(f.Events, e)
			}
			now := time.Now()
			if since != "" {
				if f.Since, err = server.ParseTime(since, now); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if f.Until, err = server.ParseTime(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			if object != "" {
				if f.Object, err = server.ParseObjectRef(object); err != nil {
					return fmt.Errorf("--object %q: %w", object, err)
				}
			}
			api, closeAPI, err := lf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAPI()
			recs, err := api.Records(cmd.Context(), f)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return printObject(cmd.OutOrStdout(), output, recs)
			case "table", "":
				return printRecords(cmd.OutOrStdout(), recs)
			}
			return &UsageError{fmt.Errorf("-o %q: want table, json or yaml", output)}
		},
	}
	lf.add(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "only this Application (NAME or NAMESPACE/NAME)")
	fl.StringSliceVar(&kinds, "kind", nil, "only these event kinds, comma-separated ("+eventNames()+")")
	fl.StringVar(&since, "since", "", "only records at or after this time: 24h, 7d, 2026-11-20 or RFC 3339")
	fl.StringVar(&until, "until", "", "only records before this time (same forms as --since)")
	fl.StringVar(&author, "author", "", "only records of commits whose author contains this (any case)")
	fl.StringVar(&object, "object", "", "only records that changed this object: Kind[.group]/[namespace/]name")
	fl.IntVar(&limit, "limit", audit.DefaultLimit, fmt.Sprintf("how many records to show (at most %d)", audit.MaxLimit))
	fl.StringVarP(&output, "output", "o", "table", "table, json or yaml")
	cmd.AddCommand(newAuditVerifyCommand(), newAuditExportCommand())
	return cmd
}

func newAuditVerifyCommand() *cobra.Command {
	var lf ledgerFlags
	var keyFile string
	var output string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole hash chain and its signed checkpoints; name the first bad record",
		Long: `Walks every record of the ledger and checks that each holds the hash of the one
before it, that none is missing, reordered or edited, and that the newest is the one the
signed head checkpoint names, so that deleting the newest records is caught too.

Give --public-key (the PEM from the Secret lockstep-ledger-key, key ed25519.pub, saved
when the ledger was set up) to check the signatures against a key you trust; without it
the key the ledger names is used, which proves the chain is whole but not who signed it.
Exits 1 when the chain is broken.`,
		Example: `  lockstep audit verify
  lockstep audit verify --public-key ledger.pub
  lockstep audit verify --db /var/lib/lockstep/ledger.db --public-key ledger.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var trusted []byte
			if keyFile != "" {
				var err error
				if trusted, err = os.ReadFile(keyFile); err != nil {
					return err
				}
			}
			key, err := parseTrusted(trusted)
			if err != nil {
				return err
			}
			api, closeAPI, err := lf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAPI()
			rep, err := api.Verify(cmd.Context(), key)
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				if err := printObject(cmd.OutOrStdout(), output, rep); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if !rep.OK() {
				return errChainBroken
			}
			return nil
		},
	}
	lf.add(cmd, false)
	cmd.Flags().StringVar(&keyFile, "public-key", "", "PEM file of the ledger's public key to trust")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or yaml")
	return cmd
}

func newAuditExportCommand() *cobra.Command {
	var lf ledgerFlags
	var after uint64
	var file string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the ledger as JSON Lines, for a SIEM",
		Long: `Writes every record (after --after, for incremental exports) as one JSON object
per line, oldest first. Each line is the record's canonical form with its "hash" added as
the last field: the SHA-256 of the line without ',"hash":"…"' is that hash, and each
record's "prevHash" is the hash of the line before, so the export can be checked on its
own.`,
		Example: `  lockstep audit export > ledger.jsonl
  lockstep audit export --after 1200 -f new.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, closeAPI, err := lf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeAPI()
			var w io.Writer = cmd.OutOrStdout()
			if file != "" && file != "-" {
				f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			n, err := api.Export(cmd.Context(), after, w)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d records\n", n)
			return nil
		},
	}
	lf.add(cmd, false)
	cmd.Flags().Uint64Var(&after, "after", 0, "only records after this number")
	cmd.Flags().StringVarP(&file, "file", "f", "-", "file to write (- for standard output)")
	return cmd
}

// errChainBroken makes verify exit non-zero after printing its report.
var errChainBroken = fmt.Errorf("the ledger's chain is broken")

func printReport(w io.Writer, rep audit.Report) {
	if rep.OK() {
		fmt.Fprintf(w, "OK: %d records (#%d to #%d) chain intact\n", rep.Records, rep.First, rep.Last)
	} else {
		fmt.Fprintf(w, "BROKEN at record #%d: %s\n", rep.FirstBadSeq, rep.Problem)
		fmt.Fprintf(w, "checked %d records before the problem\n", rep.Records)
	}
	if rep.HeadHash != "" {
		fmt.Fprintf(w, "head:   %s\n", rep.HeadHash)
	}
	if rep.CutAt > 0 {
		fmt.Fprintf(w, "cut:    records before #%d removed by retention (signed cut checkpoint)\n", rep.CutAt)
	}
	if rep.Key != "" {
		trust := "the key the ledger names (give --public-key to check against a trusted one)"
		if rep.KeyTrusted {
			trust = "the trusted key given"
		}
		fmt.Fprintf(w, "signer: %s, checked against %s\n", rep.Key, trust)
	}
}

func printRecords(out io.Writer, recs []audit.Record) error {
	if len(recs) == 0 {
		fmt.Fprintln(out, "no records match")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tTIME\tEVENT\tRESULT\tAPPLICATION\tREVISION\tAUTHOR\tBY\tDETAIL")
	for _, r := range recs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, when(r.Time), r.Event, result(r), r.Application,
			short(r.Revision), author(r), r.Actor, detail(r))
	}
	return w.Flush()
}

// detail is a record's most telling line: the objects it touched, or its message.
func detail(r audit.Record) string {
	if r.Message != "" && (r.Result == audit.Failed || r.Event == audit.EventDenied) {
		return trim(r.Reason+": "+r.Message, 100)
	}
	var parts []string
	for _, c := range r.Changes {
		s := strings.ToLower(string(c.Action)) + " " + c.Object()
		if len(c.Fields) > 0 {
			s += " (" + fieldNames(c.Fields) + ")"
		}
		if c.ChangedBy != nil {
			s += " by " + c.ChangedBy.Manager
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return dash(subject(r))
	}
	return trim(strings.Join(parts, "; "), 100)
}

func fieldNames(fs []audit.FieldChange) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Path
	}
	return strings.Join(names, ", ")
}

func changeCounts(r audit.Record) string {
	n := map[audit.Action]int{}
	for _, c := range r.Changes {
		n[c.Action]++
	}
	if len(n) == 0 {
		return "-"
	}
	return fmt.Sprintf("+%d ~%d -%d", n[audit.Create], n[audit.Update]+n[audit.Adopt], n[audit.Prune]) + adopted(n[audit.Adopt])
}

func result(r audit.Record) string {
	if r.Reason != "" && r.Result != audit.Succeeded {
		return string(r.Result) + " (" + r.Reason + ")"
	}
	if r.Rollback {
		return string(r.Result) + " (rollback)"
	}
	return string(r.Result)
}

func author(r audit.Record) string {
	if r.Commit == nil || r.Commit.Author == "" {
		return "-"
	}
	name, _, _ := strings.Cut(r.Commit.Author, " <")
	return name
}

func subject(r audit.Record) string {
	if r.Commit == nil {
		return ""
	}
	return trim(r.Commit.Subject, 60)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func duration(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trim(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func eventNames() string {
	names := make([]string, len(audit.Events))
	for i, e := range audit.Events {
		names[i] = strings.ToLower(string(e))
	}
	return strings.Join(names, ", ")
}

// adopted notes how many objects a record took over, when any did.
func adopted(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d adopted)", n)
}
