package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lockstep-dev/lockstep/internal/server"
)

func newTreeCommand() *cobra.Command {
	var m modeFlags
	var output string
	var unhealthy bool
	cmd := &cobra.Command{
		Use:   "tree APP",
		Short: "Show an Application's objects and what they own (ReplicaSets, Pods, Jobs), with health",
		Example: `  lockstep tree webapp-prod
  lockstep tree team/webapp --unhealthy`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, name, err := m.apiApp(args[0])
			if err != nil {
				return err
			}
			t, err := c.Tree(cmd.Context(), ns, name)
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, t)
			}
			printTree(cmd.OutOrStdout(), t, unhealthy)
			return nil
		},
	}
	m.api.add(cmd)
	cmd.Flags().StringVarP(&m.kube.namespace, "namespace", "n", "", "namespace of the Application (default: the context's)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml (default: a tree)")
	cmd.Flags().BoolVar(&unhealthy, "unhealthy", false, "show only what is not Healthy, with the objects above it")
	return cmd
}

// apiApp is a client of the API and APP's namespace and name, for a command
// that goes through the controller's API.
func (m *modeFlags) apiApp(arg string) (*server.Client, string, string, error) {
	c, r, err := m.api.client()
	if err != nil {
		return nil, "", "", err
	}
	ns, name, err := m.appKey(arg, r.Namespace)
	return c, ns, name, err
}

func printTree(out io.Writer, t server.Tree, unhealthyOnly bool) {
	children := map[string][]server.TreeNode{}
	for _, n := range t.Nodes {
		children[n.Parent] = append(children[n.Parent], n)
	}
	// keep marks the nodes to print: all, or the unhealthy ones and their
	// ancestors.
	keep := map[string]bool{}
	var mark func(n server.TreeNode) bool
	mark = func(n server.TreeNode) bool {
		k := !unhealthyOnly || (n.Health != "" && n.Health != "Healthy")
		for _, c := range children[n.ID] {
			k = mark(c) || k
		}
		keep[n.ID] = k
		return k
	}
	for _, n := range children[""] {
		mark(n)
	}
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		var kids []server.TreeNode
		for _, n := range children[parent] {
			if keep[n.ID] {
				kids = append(kids, n)
			}
		}
		for i, n := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			kind := schema.GroupKind{Group: n.Group, Kind: n.Kind}.String()
			line := fmt.Sprintf("%s%s%s/%s", indent, branch, kind, n.Name)
			details := []string{orDash(n.Health)}
			if n.Info != "" {
				details = append(details, n.Info)
			}
			if n.HealthMessage != "" {
				details = append(details, n.HealthMessage)
			}
			fmt.Fprintf(out, "%s  %s\n", line, strings.Join(details, "  "))
			walk(n.ID, indent+next)
		}
	}
	walk("", "")
	if t.Truncated {
		fmt.Fprintf(out, "(more than %d objects: the tree is cut short)\n", server.MaxTreeNodes)
	}
}

func newLogsCommand() *cobra.Command {
	var m modeFlags
	var o server.LogOptions
	cmd := &cobra.Command{
		Use:   "logs APP POD",
		Short: "Print (or follow) the log of a Pod of an Application, through the API",
		Example: `  lockstep logs webapp-prod web-7d9c5b6f4-x2x7l
  lockstep logs team/webapp web-7d9c5b6f4-x2x7l -c app -f --tail 100`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, name, err := m.apiApp(args[0])
			if err != nil {
				return err
			}
			o.Pod = args[1]
			return c.Logs(cmd.Context(), ns, name, o, cmd.OutOrStdout())
		},
	}
	m.api.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&m.kube.namespace, "namespace", "n", "", "namespace of the Application (default: the context's)")
	f.StringVar(&o.Namespace, "pod-namespace", "", "the Pod's namespace (default: the Application's destination)")
	f.StringVarP(&o.Container, "container", "c", "", "the container (default: the Pod's only one)")
	f.IntVar(&o.TailLines, "tail", 500, "how many of the last lines (at most 10,000)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines (for up to 30 minutes)")
	f.BoolVar(&o.Previous, "previous", false, "the log of the container's previous run")
	return cmd
}

func newRestartCommand() *cobra.Command {
	var m modeFlags
	var workloadNS, output string
	cmd := &cobra.Command{
		Use:     "restart APP KIND/NAME",
		Short:   "Restart a Deployment, StatefulSet or DaemonSet of an Application (as kubectl rollout restart), recorded in the ledger",
		Example: `  lockstep restart webapp-prod deployment/web`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, name, err := m.apiApp(args[0])
			if err != nil {
				return err
			}
			kind, obj, ok := strings.Cut(args[1], "/")
			if !ok || obj == "" {
				return &UsageError{fmt.Errorf("%q: want KIND/NAME, e.g. deployment/web", args[1])}
			}
			q := server.ResourceQuery{Group: "apps", Name: obj, Namespace: workloadNS}
			switch strings.ToLower(kind) {
			case "deployment", "deploy", "deployments":
				q.Kind = "Deployment"
			case "statefulset", "sts", "statefulsets":
				q.Kind = "StatefulSet"
			case "daemonset", "ds", "daemonsets":
				q.Kind = "DaemonSet"
			default:
				return &UsageError{fmt.Errorf("%q: restart applies to deployment, statefulset or daemonset", kind)}
			}
			if q.Namespace == "" {
				app, err := c.Application(cmd.Context(), ns, name)
				if err != nil {
					return err
				}
				q.Namespace = app.Spec.Destination.Namespace
			}
			res, err := c.Restart(cmd.Context(), ns, name, q)
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s of %s by %s (recorded in the ledger)\n", res.Action, res.Application, res.Actor)
			return nil
		},
	}
	m.api.add(cmd)
	cmd.Flags().StringVarP(&m.kube.namespace, "namespace", "n", "", "namespace of the Application (default: the context's)")
	cmd.Flags().StringVar(&workloadNS, "workload-namespace", "", "the workload's namespace (default: the Application's destination)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the result as data")
	return cmd
}
