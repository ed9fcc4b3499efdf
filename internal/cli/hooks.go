package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Receivers and Notifications are configured with kubectl, by whoever runs
// Lockstep: they are read with a kubeconfig.

func newGetReceiversCommand() *cobra.Command {
	var k kubeFlags
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:     "receivers",
		Aliases: []string{"receiver", "rcv"},
		Short:   "List webhook Receivers: the URL to give the Git server, whether they are ready, the last push",
		Long: `Lists Receivers (with a kubeconfig): where each takes its Git server's push
events, whether its Secret is ready, and the last push it took. Give the
Git server the URL (or the API's address followed by the PATH) and the
secret in the Receiver's Secret. docs/webhooks.md walks through it.`,
		Example: `  lockstep get receivers -A
  lockstep get receivers -n team-a -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, ns, err := k.client()
			if err != nil {
				return err
			}
			list := &v1.ReceiverList{}
			if err := c.List(cmd.Context(), list, listIn(ns, all)...); err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, list)
			}
			return printReceivers(cmd.OutOrStdout(), list.Items)
		},
	}
	k.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list those of every namespace")
	return cmd
}

func newGetNotificationsCommand() *cobra.Command {
	var k kubeFlags
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:     "notifications",
		Aliases: []string{"notification", "ntf"},
		Short:   "List Notifications: where they send, for what, what they last delivered and failed to",
		Long: `Lists Notifications (with a kubeconfig): their receiver's type, the triggers
they send, whether they are ready, and their last delivery and failure
(with why). docs/notifications.md walks through each type.`,
		Example: `  lockstep get notifications -A
  lockstep get notifications -n team-a -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, ns, err := k.client()
			if err != nil {
				return err
			}
			list := &v1.NotificationList{}
			if err := c.List(cmd.Context(), list, listIn(ns, all)...); err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, list)
			}
			return printNotifications(cmd.OutOrStdout(), list.Items)
		},
	}
	k.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list those of every namespace")
	return cmd
}

func listIn(ns string, all bool) []client.ListOption {
	if all {
		return nil
	}
	return []client.ListOption{client.InNamespace(ns)}
}

// readiness is a Ready condition's status, and its message when not True.
func readiness(conds []metav1.Condition) (status, why string) {
	c := meta.FindStatusCondition(conds, "Ready")
	switch {
	case c == nil:
		return "Unknown", "not seen by the controller yet"
	case c.Status != metav1.ConditionTrue:
		return string(c.Status), c.Message
	}
	return string(c.Status), ""
}

func printReceivers(out io.Writer, items []v1.Receiver) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tTYPE\tREADY\tURL\tLAST PUSH\tWHY NOT READY")
	for _, r := range items {
		ready, why := readiness(r.Status.Conditions)
		last := "-"
		if e := r.Status.LastEvent; e != nil {
			last = fmt.Sprintf("%s ago: %s at %s, %d refreshed", age(e.Time.Time), strings.TrimPrefix(strings.TrimPrefix(e.Ref, "refs/heads/"), "refs/"),
				orDash(short(e.Commit)), e.Refreshed)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Spec.Type, ready, orDash(firstOf(r.Status.URL, r.Status.Path)), last, orDash(why))
	}
	return w.Flush()
}

func printNotifications(out io.Writer, items []v1.Notification) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tTYPE\tTRIGGERS\tREADY\tLAST SENT\tLAST FAILURE\tWHY NOT READY")
	for _, n := range items {
		ready, why := readiness(n.Status.Conditions)
		triggers := "failures"
		if len(n.Spec.Triggers) > 0 {
			names := make([]string, len(n.Spec.Triggers))
			for i, t := range n.Spec.Triggers {
				names[i] = string(t)
			}
			triggers = strings.Join(names, ",")
		}
		sent, failed := "-", "-"
		if d := n.Status.LastDelivery; d != nil {
			sent = fmt.Sprintf("%s ago: %s %s", age(d.Time.Time), d.Trigger, d.Application)
		}
		if d := n.Status.LastFailure; d != nil {
			failed = fmt.Sprintf("%s ago: %s %s: %s", age(d.Time.Time), d.Trigger, d.Application, d.Message)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Namespace, n.Name, n.Spec.Type, triggers, ready, sent, failed, orDash(why))
	}
	return w.Flush()
}
