package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/source"
)

func newGetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show Applications, Projects, webhook Receivers, Notifications and releases",
	}
	cmd.AddCommand(newGetAppsCommand(), newGetAppCommand(), newGetProjectsCommand(), newGetProjectCommand(),
		newGetReceiversCommand(), newGetNotificationsCommand(), newGetReleasesCommand())
	return cmd
}

func newGetAppsCommand() *cobra.Command {
	var m modeFlags
	var output string
	var all bool
	var filter server.ListOptions
	cmd := &cobra.Command{
		Use:     "apps",
		Aliases: []string{"applications"},
		Short:   "List Applications: sync status against the newest commit, the commit applied, health, readiness",
		Long: `Lists Applications. Through the API (after lockstep login) it lists those of every
namespace you may see, unless -n names one, and filters on the server; with a
kubeconfig it lists the kubeconfig namespace's, or every namespace's with -A.`,
		Example: `  lockstep get apps
  lockstep get apps --project payments --sync OutOfSync
  lockstep get apps --health Degraded -o json
  lockstep get apps -l team=web --search api`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			viaAPI, err := m.useAPI()
			if err != nil {
				return err
			}
			if viaAPI {
				c, _, err := m.api.client()
				if err != nil {
					return err
				}
				filter.Namespace = m.kube.namespace
				items, err := c.AllApplications(cmd.Context(), filter)
				if err != nil {
					return err
				}
				if output != "" {
					return printObject(cmd.OutOrStdout(), output, items)
				}
				return printSummaryTable(cmd.OutOrStdout(), items)
			}
			if filter != (server.ListOptions{}) {
				return errors.New("--project, --sync, --health, -l, --search, --policy-denied and --verification-failed filter on the API's side: log in first (lockstep login)")
			}
			c, _, ns, err := m.kube.client()
			if err != nil {
				return err
			}
			list := &v1.ApplicationList{}
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, list)
			}
			return printAppTable(cmd.OutOrStdout(), list.Items, all)
		},
	}
	m.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	f.BoolVarP(&all, "all-namespaces", "A", false, "list Applications of every namespace (kubeconfig mode; the API lists all you may see)")
	f.StringVar(&filter.Project, "project", "", "only this Project's")
	f.StringVar(&filter.Sync, "sync", "", "only Synced, OutOfSync or Unknown ones")
	f.StringVar(&filter.Health, "health", "", "only Healthy, Progressing, Degraded, Suspended, Missing or Unknown ones")
	f.StringVarP(&filter.Labels, "selector", "l", "", "only those whose labels match (team=web,tier!=db)")
	f.StringVar(&filter.Search, "search", "", "only those whose namespace/name contains this")
	f.BoolVar(&filter.PolicyDenied, "policy-denied", false, "only those a policy denied")
	f.BoolVar(&filter.VerificationFailed, "verification-failed", false, "only those whose commit failed verification")
	return cmd
}

func printSummaryTable(out io.Writer, apps []server.AppSummary) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tPROJECT\tSYNC\tNEWEST\tAPPLIED\tHEALTH\tREADY\tREASON\tAUTHOR")
	for _, a := range apps {
		sync := string(a.Sync)
		if a.SyncReason != "" {
			sync += " (" + a.SyncReason + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Namespace, a.Name, a.Project, sync, orDash(short(a.NewestRevision)),
			orDash(short(a.AppliedRevision)), a.Health, a.Ready, orDash(a.Reason), orDash(authorName(a.Author)))
	}
	return w.Flush()
}

// authorName is "Name" of "Name <email>".
func authorName(s string) string {
	name, _, _ := strings.Cut(s, " <")
	return name
}

func printAppTable(out io.Writer, apps []v1.Application, withNamespace bool) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if withNamespace {
		fmt.Fprint(w, "NAMESPACE\t")
	}
	fmt.Fprintln(w, "NAME\tSYNC\tNEWEST\tAPPLIED\tHEALTH\tREADY\tREASON\tAGE")
	for _, a := range apps {
		if withNamespace {
			fmt.Fprintf(w, "%s\t", a.Namespace)
		}
		ready, reason := "Unknown", ""
		if c := meta.FindStatusCondition(a.Status.Conditions, v1.ConditionReady); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		health := "Unknown"
		if a.Status.Health != nil {
			health = a.Status.Health.Status
		}
		applied := ""
		if r := a.Status.LastAppliedRevision; r != nil {
			applied = r.Commit
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, syncState(a.Status.Sync), orDash(short(a.Status.Sync.Revision)), orDash(short(applied)),
			health, ready, orDash(reason), age(a.CreationTimestamp.Time))
	}
	return w.Flush()
}

func newGetAppCommand() *cobra.Command {
	var m modeFlags
	var output string
	cmd := &cobra.Command{
		Use:     "app NAME",
		Aliases: []string{"application"},
		Short:   "Show one Application: source, revision, conditions, resources, history",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := m.getApp(cmd, args[0])
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, app)
			}
			return describeApp(cmd.OutOrStdout(), app)
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a description)")
	return cmd
}

// getApp reads one Application through the API or the kubeconfig.
func (m *modeFlags) getApp(cmd *cobra.Command, arg string) (*v1.Application, error) {
	viaAPI, err := m.useAPI()
	if err != nil {
		return nil, err
	}
	if viaAPI {
		c, r, err := m.api.client()
		if err != nil {
			return nil, err
		}
		ns, name, err := m.appKey(arg, r.Namespace)
		if err != nil {
			return nil, err
		}
		return c.Application(cmd.Context(), ns, name)
	}
	c, _, ns, err := m.kube.client()
	if err != nil {
		return nil, err
	}
	app := &v1.Application{}
	if err := c.Get(cmd.Context(), types.NamespacedName{Namespace: ns, Name: arg}, app); err != nil {
		return nil, err
	}
	return app, nil
}

func describeApp(out io.Writer, a *v1.Application) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	src := a.Spec.Source
	ref := src.Git.Ref
	fmt.Fprintf(w, "Name:\t%s/%s\n", a.Namespace, a.Name)
	fmt.Fprintf(w, "Source:\t%s %s path %s\n", src.Git.URL, refString(ref), orDash(src.Path))
	fmt.Fprintf(w, "Destination:\t%s namespace %s\n", orDash(a.Spec.Destination.Cluster), a.Spec.Destination.Namespace)
	project := a.Spec.Project
	if project == "" {
		project = v1.DefaultProject
	}
	if sa := a.Spec.Destination.ServiceAccountName; sa != "" {
		fmt.Fprintf(w, "Project:\t%s, acting as service account %s\n", project, sa)
	} else {
		fmt.Fprintf(w, "Project:\t%s\n", project)
	}
	fmt.Fprintf(w, "Sync:\t%s with the newest commit %s\n", syncState(a.Status.Sync), orDash(short(a.Status.Sync.Revision)))
	if h := a.Status.Health; h != nil {
		if h.Object == "" {
			fmt.Fprintf(w, "Health:\t%s\n", h.Status)
		} else {
			fmt.Fprintf(w, "Health:\t%s: %s %s\n", h.Status, h.Object, h.Message)
		}
	}
	if r := a.Status.LastAppliedRevision; r != nil {
		fmt.Fprintf(w, "Applied:\t%s %q by %s\n", short(r.Commit), r.Subject, r.Author)
		for _, t := range r.Trailers {
			fmt.Fprintf(w, "\t%s: %s\n", t.Key, t.Value)
		}
		if r.VerifiedBy != "" {
			fmt.Fprintf(w, "\tsigned, verified with %s\n", r.VerifiedBy)
		}
	}
	for _, c := range a.Status.Conditions {
		fmt.Fprintf(w, "%s:\t%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(a.Status.Resources) > 0 {
		fmt.Fprintln(out, "\nResources:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  KIND\tNAMESPACE\tNAME\tHEALTH\tLAST ACTION\tCHANGED FIELDS")
		for _, r := range a.Status.Resources {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, orDash(r.Namespace), r.Name, orDash(r.Health), r.Action, orDash(strings.Join(r.ChangedFields, ", ")))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if n := a.Status.ResourcesOmitted; n > 0 {
		fmt.Fprintf(out, "  (%d more not listed: the status lists at most %d objects, those that need a look first; status.managed names every one: lockstep get %s -o yaml)\n", n, v1.MaxResources, a.Name)
	}
	if len(a.Status.History) > 0 {
		fmt.Fprintln(out, "\nHistory:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  FINISHED\tREVISION\tRESULT\tBY\tCREATED\tUPDATED\tPRUNED\tMESSAGE")
		for _, h := range a.Status.History {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", h.FinishedAt.UTC().Format(time.RFC3339), short(h.Revision), h.Result, h.Initiator, h.Created, h.Updated, h.Pruned, orDash(h.Message))
		}
		return w.Flush()
	}
	return nil
}

func printObject(out io.Writer, format string, obj any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	default:
		return fmt.Errorf("unknown output format %q (want yaml or json)", format)
	}
}

// syncState is the sync status with its reason: "OutOfSync (PolicyDenied)".
func syncState(s v1.SyncStatus) string {
	state := string(s.Status)
	if state == "" {
		state = string(v1.Unknown)
	}
	if s.Reason != "" {
		state += " (" + s.Reason + ")"
	}
	return state
}

func refString(r v1.GitRef) string {
	return source.Ref{Branch: r.Branch, Tag: r.Tag, Semver: r.Semver, Commit: r.Commit}.String()
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// joinAtMost joins the first shown items, each as each writes it, with ", ",
// and says how many more there are with more (a format taking the count).
func joinAtMost(items []string, shown int, each func(string) string, more string) string {
	parts := make([]string, 0, min(len(items), shown)+1)
	for i, it := range items {
		if i == shown {
			parts = append(parts, fmt.Sprintf(more, len(items)-shown))
			break
		}
		parts = append(parts, each(it))
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func age(t time.Time) string { return ageAt(time.Now(), t) }

// ageAt is how long before now t was: 42s, 5m, 3h, 12d.
func ageAt(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
