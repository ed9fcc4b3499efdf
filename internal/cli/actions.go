package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// manualAction is a command that changes an Application and records who did it,
// for the audit ledger.
type manualAction struct {
	name, short, long string
}

var manualActions = []manualAction{
	{
		name: "refresh", short: "Ask the controller to look at Git and the cluster now",
		long: `Asks the controller to reconcile APP now instead of at its next interval: fetch
Git, compare with the cluster, and apply if automated sync is on. Recorded in the audit
ledger with your name.`,
	},
	{
		name: "suspend", short: "Stop reconciling an Application (nothing is applied, pruned or reverted)",
		long: `Sets spec.suspend on APP: the controller stops applying, pruning and reverting drift
until it is resumed. Recorded in the audit ledger with your name. Note that if the
Application itself is managed from Git, Git's value wins at the next sync.`,
	},
	{
		name: "resume", short: "Resume reconciling a suspended Application",
		long: `Unsets spec.suspend on APP. Recorded in the audit ledger with your name.`,
	},
}

func newManualActionCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, a := range manualActions {
		cmds = append(cmds, a.command())
	}
	return cmds
}

func (a manualAction) command() *cobra.Command {
	var m modeFlags
	var output string
	cmd := &cobra.Command{
		Use:   a.name + " APP",
		Short: a.short,
		Long:  a.long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				c, r, err := m.api.client()
				if err != nil {
					return err
				}
				ns, name, err := m.appKey(args[0], r.Namespace)
				if err != nil {
					return err
				}
				res, err := c.Act(cmd.Context(), ns, name, a.name)
				if err != nil {
					return err
				}
				if output != "" {
					return printObject(cmd.OutOrStdout(), output, res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s of %s requested by %s\n", a.name, res.Application, res.Actor)
				return nil
			}
			_, _, err = requestAsUser(cmd, &m.kube, args[0], a.name, func(who string, now time.Time) map[string]any {
				patch, _ := v1.ManualActionPatch(a.name, who, now)
				return patch
			})
			return err
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the request as data (API only)")
	return cmd
}

// requestAsUser asks the API server who the caller is, patches the Application
// with what build makes of that name and the time (a merge patch), and says so.
// It returns the client and the patched Application.
func requestAsUser(cmd *cobra.Command, kf *kubeFlags, name, what string, build func(who string, now time.Time) map[string]any) (client.Client, *v1.Application, error) {
	c, cfg, ns, err := kf.client()
	if err != nil {
		return nil, nil, err
	}
	ctx := cmd.Context()
	who, err := whoAmI(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(build(who, time.Now()))
	if err != nil {
		return nil, nil, err
	}
	app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := c.Patch(ctx, app, client.RawPatch(types.MergePatchType, body)); err != nil {
		return nil, nil, fmt.Errorf("requesting a %s of %s/%s: %w", what, ns, name, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s of %s/%s requested by %s\n", what, ns, name, who)
	return c, app, nil
}
