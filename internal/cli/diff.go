package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/source"
)

func newDiffCommand() *cobra.Command {
	var (
		m        modeFlags
		output   string
		revision string
		pf       = newPipelineFlags()
	)
	cmd := &cobra.Command{
		Use:   "diff APP",
		Short: "Show what a sync of APP (or of a branch about to be merged) would change, as a diff (Secret values masked)",
		Long: `Fetches APP's source, renders it and compares it with the cluster exactly as the
controller does (server-side dry runs), then prints a unified diff per object that
would be created, updated or pruned. Secret values are never printed. The Project's
rules and signature checks apply as in the controller; a denial is the error.

With --revision BRANCH|COMMIT it previews that revision instead of the one APP
follows: what merging a pull request would do to the live cluster. The checks it
still fails that do not stop a plan (signature, approvals, the rollback rule, refused
prunes) are listed as not yet met, and the diff is shown all the same. A CI job posts
the result to the pull request with -o markdown.

Exit codes: 0 the preview was made (changes or not, checks met or not); 7 the
revision would be refused outright (render failed, policy denies an object); others
as in docs/cli.md.

Through the API, previewing a revision needs "applications preview" on APP. With a
kubeconfig it needs read access to the Application, its Project, its credential and
key Secrets, and to act as (impersonate) its service account when it has one.`,
		Example: `  lockstep diff shop/web
  lockstep diff shop/web --revision feature/bigger-cache
  lockstep diff shop/web --revision "$CI_COMMIT_SHA" -o markdown > preview.md`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPreviewOutput(output); err != nil {
				return err
			}
			var ref *source.Ref
			if cmd.Flags().Changed("revision") {
				r, err := source.ParseRevision(revision)
				if err != nil {
					return &UsageError{Err: fmt.Errorf("--revision: %w", err)}
				}
				ref = &r
			}
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				return diffThroughAPI(cmd, &m, args[0], revision, output)
			}
			var pv pass.Preview
			err = pf.run(cmd, &m.kube, args[0], func(pl *reconcile.Pipeline, app *v1.Application, _ client.Client, _ *rest.Config) error {
				p, err := pl.Preview(cmd.Context(), app, reconcile.PreviewOptions{Fresh: true, Revision: ref})
				if p == nil {
					return err
				}
				pv, err = pass.NewWholePreview(p)
				return err
			})
			if err != nil {
				return err
			}
			return writePreviewAs(cmd.OutOrStdout(), output, pv)
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "markdown (for a pull request comment), json or yaml; default: a diff")
	cmd.Flags().StringVar(&revision, "revision", "", "preview this branch or full commit hash instead of the ref APP follows")
	pf.add(cmd)
	return cmd
}

// diffThroughAPI prints the controller's preview of APP: the commit, the
// verdicts and a diff per object.
func diffThroughAPI(cmd *cobra.Command, m *modeFlags, arg, revision, output string) error {
	c, ns, name, err := m.apiApp(arg)
	if err != nil {
		return err
	}
	pv, err := c.Preview(cmd.Context(), ns, name, revision)
	if err != nil {
		return err
	}
	return writePreviewAs(cmd.OutOrStdout(), output, pv)
}

// checkPreviewOutput refuses an unknown -o before anything is fetched.
func checkPreviewOutput(output string) error {
	switch output {
	case "", "markdown", "md", "json", "yaml":
		return nil
	}
	return &UsageError{Err: fmt.Errorf("-o %q: want markdown, json or yaml (or nothing, for a diff)", output)}
}

// writePreviewAs prints pv in the format -o names. A preview whose revision
// would be refused outright is written whole first, then is the error
// (ErrSyncFailed, exit code 7), so a CI job can post it and still fail.
func writePreviewAs(out io.Writer, output string, pv pass.Preview) error {
	var err error
	switch output {
	case "json", "yaml":
		err = printObject(out, output, pv)
	case "markdown", "md":
		err = WritePreviewMarkdown(out, pv)
	default:
		return WritePreview(out, pv)
	}
	if err == nil && pv.Refused != nil {
		err = fmt.Errorf("%w: %s: %s", ErrSyncFailed, pv.Refused.Reason, pv.Refused.Message)
	}
	return err
}

// WritePreview prints a preview as lockstep diff does.
func WritePreview(out io.Writer, pv pass.Preview) error {
	fmt.Fprintf(out, "# %s at %s %q by %s\n", pv.Application, short(pv.Revision), pv.Subject, authorName(pv.Author))
	if pv.VerifiedBy != "" {
		fmt.Fprintf(out, "# signed, verified with %s\n", pv.VerifiedBy)
	}
	if len(pv.Approvers) > 0 {
		fmt.Fprintf(out, "# approved by %s\n", strings.Join(pv.Approvers, ", "))
	}
	if pv.Rollback {
		fmt.Fprintln(out, "# a rollback: this commit does not descend from the one applied")
	}
	if pv.Requested != "" {
		fmt.Fprintf(out, "# previewing %s, not the ref it follows\n", pv.Requested)
	}
	for _, u := range pv.Unmet {
		fmt.Fprintf(out, "# not yet met (%s): %s\n", u.Reason, oneLine(u.Message))
	}
	if pv.Refused != nil {
		return fmt.Errorf("%w: %s: %s", ErrSyncFailed, pv.Refused.Reason, pv.Refused.Message)
	}
	if pv.InSync {
		fmt.Fprintln(out, "# in sync: a sync would change nothing")
		return nil
	}
	for _, h := range pv.Hooks {
		fmt.Fprintf(out, "# hook %s %s/%s (wave %d)\n", h.Phase, h.Kind, h.Name, h.Wave)
	}
	for _, w := range pv.Waves {
		if len(pv.Waves) > 1 {
			fmt.Fprintf(out, "# wave %d\n", w.Wave)
		}
		for _, s := range w.Steps {
			if s.Action == plan.Keep {
				fmt.Fprintf(out, "# %s %s/%s: kept (%s)\n", s.Kind, s.Namespace, s.Name, s.Reason)
				continue
			}
			if _, err := io.WriteString(out, s.Diff); err != nil {
				return err
			}
		}
	}
	if pv.Requested == "" {
		fmt.Fprintf(out, "# to apply exactly this: lockstep sync %s --revision %s --generation %d\n", pv.Application, short(pv.Revision), pv.Generation)
	}
	return nil
}

// WritePlanDiff writes what `lockstep diff` shows of a previewed pass: a
// unified diff per object that would change, Secret values masked.
func WritePlanDiff(out io.Writer, pv *pass.Pass) error {
	scrub := pv.Scrubber() // Secret values a chart copied into other objects
	for _, step := range pv.Plan.Steps {
		if step.Action == plan.Keep {
			fmt.Fprintf(out, "# %s: kept (%s)\n", step.Key, step.Reason)
			continue
		}
		text, err := pass.StepDiff(pv, step, scrub)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(out, text); err != nil {
			return err
		}
	}
	return nil
}

// oneLine joins a message's lines, for a line of its own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
