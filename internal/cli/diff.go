package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
)

func newDiffCommand() *cobra.Command {
	var (
		kf              kubeFlags
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
	kf.add(cmd)
	cmd.Flags().StringVar(&controllerNS, "controller-namespace", controller.DefaultOptions().Namespace, "the controller's namespace, where Projects' trusted keys live unless they name another")
	cmd.Flags().StringVar(&serviceAccount, "default-service-account", "", "the controller's --default-service-account, to compare as the same identity")
	cmd.Flags().BoolVar(&requireProjects, "require-projects", false, "the controller's --require-projects: a missing Project is a denial")
	addRenderFlags(cmd.Flags(), &renders)
	return cmd
}

// WritePlanDiff writes what `lockstep diff` shows of a previewed pass: a
// unified diff per object that would change, Secret values masked.
func WritePlanDiff(out io.Writer, pv *pass.Pass) error {
	scrub := pv.Scrubber() // Secret values a chart copied into other objects
	for _, step := range pv.Plan.Steps {
		var before, after *unstructured.Unstructured
		switch step.Action {
		case plan.Create:
			after = step.Desired
		case plan.Update:
			before, after = pv.Observed.Current[step.Key], pv.Observed.DryRun[step.Key]
			if after == nil {
				after = step.Desired
			}
		case plan.Prune:
			before = pv.Observed.Current[step.Key]
		case plan.Keep:
			fmt.Fprintf(out, "# %s: kept (%s)\n", step.Key, step.Reason)
			continue
		default:
			continue
		}
		before, after = maskSecrets(before, after)
		a, err := asYAML(before)
		if err != nil {
			return err
		}
		b, err := asYAML(after)
		if err != nil {
			return err
		}
		action := string(step.Action)
		if step.Adopted {
			action = "Adopt: exists, managed by no Application; the sync takes it over"
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(a), B: difflib.SplitLines(b),
			FromFile: step.Key.String() + " (live)", ToFile: step.Key.String() + " (" + action + ")", Context: 3,
		})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(out, scrub.Scrub(text)); err != nil {
			return err
		}
	}
	return nil
}

func asYAML(o *unstructured.Unstructured) (string, error) {
	if o == nil {
		return "", nil
	}
	data, err := yaml.Marshal(plan.Comparable(o).Object)
	return string(data), err
}

// maskSecrets replaces every value of a Secret's data and stringData: a value
// that is the same on both sides reads "***", one that differs reads
// "*** (before)" and "*** (after)", so the diff shows which keys change and
// nothing of what they hold.
func maskSecrets(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !audit.IsSecret(before) && !audit.IsSecret(after) {
		return before, after
	}
	if before != nil {
		before = before.DeepCopy()
	}
	if after != nil {
		after = after.DeepCopy()
	}
	for _, field := range []string{"data", "stringData"} {
		var b, a map[string]any
		if before != nil {
			b, _, _ = unstructured.NestedMap(before.Object, field)
		}
		if after != nil {
			a, _, _ = unstructured.NestedMap(after.Object, field)
		}
		mask := func(m, other map[string]any, side string) map[string]any {
			out := map[string]any{}
			for k, v := range m {
				if ov, ok := other[k]; ok && ov == v {
					out[k] = "***"
				} else {
					out[k] = "*** (" + side + ")"
				}
			}
			return out
		}
		if b != nil {
			_ = unstructured.SetNestedMap(before.Object, mask(b, a, "before"), field)
		}
		if a != nil {
			_ = unstructured.SetNestedMap(after.Object, mask(a, b, "after"), field)
		}
	}
	return before, after
}
