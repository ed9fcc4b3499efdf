package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newPromoteCommand() *cobra.Command {
	var (
		m      modeFlags
		req    server.PromoteRequest
		output string
		pf     = newPipelineFlags()
	)
	cmd := &cobra.Command{
		Use:   "promote APP [--reason TEXT]",
		Short: "Promote into APP what the environment before it runs, as a commit",
		Long: `Copies into APP's folder what its spec.promotion names (Kustomize images, values at
paths) from the Application it is promoted from, at the revision that one runs, and writes
the change as a commit on the branch APP follows: on a new branch for review (the default,
and always when gates.approvals is set) or directly (the Project's spec.gitWrite.push:
Direct). The commit's trailers link the source, its revision and its ledger record.
Nothing in the cluster changes except by that commit.

The gates must pass first: the source Synced, Healthy and Ready at the revision it runs,
for gates.soak if set; the time inside gates.window; APP's Project enforcing at least
gates.approvals; APP not held (a rollback holds it: lockstep hold APP --clear).
--dry-run checks them and shows the copy without writing it.

Through the API this needs "applications promote" on APP and "applications get" on its
source; with --kubeconfig it runs here and needs the Project's write Secrets.`,
		Example: `  lockstep promote shop/web-prod
  lockstep promote shop/web-prod --reason "release 1.4 (CHG-12)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := release.CheckReason(req.Reason, false); err != nil {
				return &UsageError{Err: err}
			}
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			var res release.PromotionResult
			if viaAPI {
				c, ns, name, err := m.apiApp(args[0])
				if err != nil {
					return err
				}
				if res, err = c.Promote(cmd.Context(), ns, name, req); err != nil {
					return err
				}
			} else {
				err := pf.run(cmd, &m.kube, args[0], func(pl *reconcile.Pipeline, app *v1.Application, _ client.Client, cfg *rest.Config) error {
					who, err := whoAmI(cmd.Context(), cfg)
					if err != nil {
						return err
					}
					res, err = pl.Promote(cmd.Context(), app, reconcile.PromoteOptions{By: who, Reason: req.Reason, DryRun: req.DryRun})
					return err
				})
				if err != nil {
					return err
				}
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, res)
			}
			writePromotion(cmd.OutOrStdout(), args[0], res)
			return nil
		},
	}
	m.add(cmd)
	pf.add(cmd)
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why: written into the commit")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "check the gates and show what would be written, and write nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the result as data")
	return cmd
}

func writePromotion(out io.Writer, app string, res release.PromotionResult) {
	if !res.Changed {
		fmt.Fprintf(out, "%s already runs what its source runs at %s: nothing to promote\n", app, short(res.Revision))
		return
	}
	verb := "wrote"
	if res.DryRun {
		verb = "would write"
	}
	fmt.Fprintf(out, "%s %s, promoting %s into %s:\n", verb, short(res.Commit), short(res.Revision), app)
	for _, c := range res.Copied {
		from, to := c.From, c.To
		if from == "" {
			from = "(none)"
		}
		if to == "" {
			to = "(removed)"
		}
		fmt.Fprintf(out, "  %s %s: %s → %s\n", c.File, c.Path, release.Printable(from), release.Printable(to))
	}
	if res.DryRun {
		fmt.Fprintf(out, "nothing pushed (--dry-run); it would go to %s\n", res.Branch)
		return
	}
	if res.ReviewBecause != "" {
		fmt.Fprintf(out, "for review, although the Project pushes directly: %s\n", release.Printable(res.ReviewBecause))
	}
	if res.Direct {
		fmt.Fprintf(out, "pushed to %s: %s applies it like any commit\n", res.Branch, app)
	} else {
		fmt.Fprintf(out, "pushed to the new branch %s: merge it through review, and %s applies it\n", res.Branch, app)
	}
}
