package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newRollbackCommand() *cobra.Command {
	var (
		m      modeFlags
		req    server.RollbackRequest
		output string
		pf     = newPipelineFlags()
	)
	cmd := &cobra.Command{
		Use:   "rollback APP --to REVISION --reason TEXT",
		Short: "Roll APP back by a commit that returns its folders to an earlier revision, and hold its automation",
		Long: `Writes a commit that puts APP's folders back as they were at REVISION: its path, and
the folders its render reads (a Kustomize base) when they changed since. Nothing in the
cluster is touched: the commit is applied like any other change, once it reaches the
branch APP follows.

REVISION is "previous" (the revision applied before the newest one tried), a prefix of a
revision APP applied recently (lockstep history APP), or a full commit hash. It must pass
APP's signature and approval checks as they are today: a rollback never brings back
content that would be refused.

A folder outside APP's path that changed since REVISION (a base other Applications may
read) is restored only when you name it with --include: the rollback would roll them back
too. --dry-run shows the folders, the commits reverted and the commit, and writes nothing.

The commit is written with APP's Project's Git write access (spec.gitWrite) and signed with
its key when one is set. With push: Branch (the default, and always when the Project
requires approvals) it goes to a new branch to merge through review, so it gets the
approvals any change needs; with Direct it is pushed onto the followed branch. A push that
races another is made again on the new head, unless the race changed the same folders;
nothing is ever force-pushed.

APP is then held: Lockstep's automation (promotions into it) stays out until someone runs
lockstep hold APP --clear. The hold and its release are recorded in the ledger.

Through the API this needs "applications rollback" on APP; with --kubeconfig it runs here
and needs to read the Project's write Secrets in the controller's namespace.`,
		Example: `  lockstep rollback shop/web --to previous --reason "checkout returns 500s (INC-42)" --dry-run
  lockstep rollback shop/web --to previous --reason "checkout returns 500s (INC-42)"
  lockstep rollback shop/web --to 3f2a9c1 --reason "revert the cache change" --include base`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.To == "" {
				return &UsageError{Err: fmt.Errorf("give --to (the revision to return to: previous, or a commit) and --reason (why)")}
			}
			if err := release.CheckReason(req.Reason, true); err != nil {
				return &UsageError{Err: err}
			}
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			var res release.RollbackResult
			if viaAPI {
				c, ns, name, err := m.apiApp(args[0])
				if err != nil {
					return err
				}
				if res, err = c.Rollback(cmd.Context(), ns, name, req); err != nil {
					return err
				}
			} else {
				err := pf.run(cmd, &m.kube, args[0], func(pl *reconcile.Pipeline, app *v1.Application, c client.Client, cfg *rest.Config) error {
					who, err := whoAmI(cmd.Context(), cfg)
					if err != nil {
						return err
					}
					opts := reconcile.RollbackOptions{To: req.To, By: who, Reason: req.Reason, Include: req.Include, PathOnly: req.PathOnly, DryRun: req.DryRun}
					if res, err = pl.Rollback(cmd.Context(), app, opts); err != nil || res.DryRun {
						return err
					}
					return holdAsUser(cmd, c, app, &res.Hold, who)
				})
				if err != nil {
					return err
				}
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, res)
			}
			writeRollback(cmd.OutOrStdout(), args[0], res)
			return nil
		},
	}
	m.add(cmd)
	pf.add(cmd)
	cmd.Flags().StringVar(&req.To, "to", "", `the revision to return to: "previous", a commit hash, or a prefix of one APP applied`)
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (required): written into the commit, the hold and the ledger")
	cmd.Flags().StringSliceVar(&req.Include, "include", nil, "folders outside APP's path to restore too, knowing other Applications may read them")
	cmd.Flags().BoolVar(&req.PathOnly, "path-only", false, "restore APP's path alone, whatever its render reads")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "show what would be written, and write nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the result as data")
	return cmd
}

// writeRollback says what a rollback wrote and what happens next.
func writeRollback(out io.Writer, app string, res release.RollbackResult) {
	if !res.Changed {
		fmt.Fprintf(out, "%s's folders (%s) already are as they were at %s: nothing to write\n", app, strings.Join(res.Folders, ", "), short(res.To))
		if !res.DryRun {
			fmt.Fprintf(out, "%s is held (promotions stay out) until: lockstep hold %s --clear\n", app, app)
		}
		return
	}
	verb := "wrote"
	if res.DryRun {
		verb = "would write"
	}
	fmt.Fprintf(out, "%s %s, returning %s to %s\n", verb, short(res.Commit), strings.Join(res.Folders, ", "), short(res.To))
	for _, e := range res.Reverted {
		fmt.Fprintf(out, "  reverts %s %s (%s)\n", short(e.Hash), release.Printable(e.Subject), release.Printable(e.Author))
	}
	if res.More > 0 {
		fmt.Fprintf(out, "  and %d more\n", res.More)
	}
	if res.DryRun {
		fmt.Fprintf(out, "nothing pushed (--dry-run); it would go to %s\n", res.Branch)
		return
	}
	if res.Direct {
		fmt.Fprintf(out, "pushed to %s: %s applies it like any commit (lockstep get app %s)\n", res.Branch, app, app)
	} else {
		fmt.Fprintf(out, "pushed to the new branch %s: merge it through review, and %s applies it\n", res.Branch, app)
	}
	fmt.Fprintf(out, "%s is held (promotions stay out) until: lockstep hold %s --clear\n", app, app)
}

func newHoldCommand() *cobra.Command {
	var (
		m         modeFlags
		reason    string
		clearHold bool
	)
	cmd := &cobra.Command{
		Use:   "hold APP --reason TEXT | --clear",
		Short: "Hold Lockstep's automation (promotions) out of APP, or clear the hold",
		Long: `A hold keeps Lockstep's own automation, such as promotions into APP, from writing to it,
so it cannot undo a rollback with the version that was rolled back. Syncs of what is in
Git go on. lockstep rollback holds APP by itself. The hold and its release are recorded in
the ledger with your name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if clearHold == (strings.TrimSpace(reason) != "") {
				return &UsageError{Err: fmt.Errorf("give either --reason (to hold) or --clear")}
			}
			if err := release.CheckReason(reason, !clearHold); err != nil {
				return &UsageError{Err: err}
			}
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				c, ns, name, err := m.apiApp(args[0])
				if err != nil {
					return err
				}
				var res server.ActionResult
				if clearHold {
					res, err = c.Release(cmd.Context(), ns, name)
				} else {
					res, err = c.Hold(cmd.Context(), ns, name, reason)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s of %s by %s\n", res.Action, res.Application, res.Actor)
				return nil
			}
			_, _, err = requestAsUser(cmd, &m.kube, args[0], holdVerb(clearHold), func(who string, now time.Time) map[string]any {
				if clearHold {
					return v1.HoldPatch(nil, who, now)
				}
				return v1.HoldPatch(&v1.Hold{Reason: reason, By: who, At: metav1.NewTime(now)}, who, now)
			})
			return err
		},
	}
	m.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why APP is held: the ledger keeps it")
	cmd.Flags().BoolVar(&clearHold, "clear", false, "clear the hold")
	return cmd
}

func holdVerb(clearHold bool) string {
	if clearHold {
		return "release"
	}
	return "hold"
}

// holdAsUser puts hold on app with the kubeconfig.
func holdAsUser(cmd *cobra.Command, c client.Client, app *v1.Application, hold *v1.Hold, who string) error {
	body, err := json.Marshal(v1.HoldPatch(hold, who, time.Now()))
	if err != nil {
		return err
	}
	target := &v1.Application{}
	target.Namespace, target.Name = app.Namespace, app.Name
	if err := c.Patch(cmd.Context(), target, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("the rollback commit %s is pushed, but holding %s/%s failed (hold it: lockstep hold): %w", short(hold.RollbackCommit), app.Namespace, app.Name, err)
	}
	return nil
}
