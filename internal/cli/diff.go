package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
)

func newDiffCommand() *cobra.Command {
	var (
		m               modeFlags
		output          string
		controllerNS    string
		serviceAccount  string
		requireProjects bool
		renders         = defaultRenderOptions()
	)
	cmd := &cobra.Command{
		Use:   "diff APP",
		Short: "Show what a sync of APP would change now, as a diff (Secret values masked)",
		Long: `Fetches APP's source, renders it and compares it with the cluster exactly as the
controller does (server-side dry runs), then prints a unified diff per object that
would be created, updated or pruned. Secret values are never printed. The Project's
rules and signature checks apply as in the controller; a denial is the error. Needs read
access to the Application, its Project, its credential and key Secrets, and to act as
(impersonate) its service account when it has one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				return diffThroughAPI(cmd, &m, args[0], output)
			}
			kf := &m.kube
			c, cfg, ns, err := kf.client()
			if err != nil {
				return err
			}
			app := &v1.Application{}
			if err := c.Get(cmd.Context(), types.NamespacedName{Namespace: ns, Name: args[0]}, app); err != nil {
				return err
			}
			clients, err := kube.NewClients(cfg)
			if err != nil {
				return err
			}
			cache, err := os.MkdirTemp("", "lockstep-diff-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(cache)
			renderFn, closeRenders, err := controller.Renderer(renders)
			if err != nil {
				return err
			}
			defer closeRenders()
			pipeline, _, err := controller.NewPipeline(clients, c, controller.PipelineConfig{
				Render:        renderFn,
				RepositoryDir: cache, Namespace: controllerNS, DefaultServiceAccount: serviceAccount, RequireProjects: requireProjects,
				// What the Application names is read with your kubeconfig: you
				// see nothing you could not read yourself.
				TenantReadsAsController: true,
			})
			if err != nil {
				return err
			}
			pv, err := pipeline.Preview(cmd.Context(), app, reconcile.PreviewOptions{Fresh: true})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# %s/%s at %s %q\n", ns, app.Name, pv.Commit.Short(), pv.Commit.Subject)
			if pv.Plan.InSync() {
				fmt.Fprintln(out, "# in sync: a sync would change nothing")
				return nil
			}
			return WritePlanDiff(out, pv)
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the preview as data (API only; default: a diff)")
	cmd.Flags().StringVar(&controllerNS, "controller-namespace", controller.DefaultOptions().Namespace, "the controller's namespace, where Projects' trusted keys live unless they name another")
	cmd.Flags().StringVar(&serviceAccount, "default-service-account", "", "the controller's --default-service-account, to compare as the same identity")
	cmd.Flags().BoolVar(&requireProjects, "require-projects", false, "the controller's --require-projects: a missing Project is a denial")
	addRenderFlags(cmd.Flags(), &renders)
	return cmd
}

// diffThroughAPI prints the controller's preview of APP: the commit, the
// verdicts and a diff per object.
func diffThroughAPI(cmd *cobra.Command, m *modeFlags, arg, output string) error {
	c, r, err := m.api.client()
	if err != nil {
		return err
	}
	ns, name, err := m.appKey(arg, r.Namespace)
	if err != nil {
		return err
	}
	pv, err := c.Preview(cmd.Context(), ns, name)
	if err != nil {
		return err
	}
	if output != "" {
		return printObject(cmd.OutOrStdout(), output, pv)
	}
	return WritePreview(cmd.OutOrStdout(), pv)
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
	if pv.Refused != nil {
		return fmt.Errorf("%s: %s", pv.Refused.Reason, pv.Refused.Message)
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
	fmt.Fprintf(out, "# to apply exactly this: lockstep sync %s --revision %s --generation %d\n", pv.Application, short(pv.Revision), pv.Generation)
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
