package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newGetProjectsCommand() *cobra.Command {
	var m modeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List Projects: how many Applications each holds and which guardrails it sets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			projects, apps, err := m.projects(cmd, "")
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, projects)
			}
			return printProjectTable(cmd.OutOrStdout(), projects, apps)
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	return cmd
}

func newGetProjectCommand() *cobra.Command {
	var m modeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "project NAME",
		Short: "Show one Project: its rules and its Applications (of every namespace)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			projects, apps, err := m.projects(cmd, args[0])
			builtIn := errors.Is(err, errNoProject) && args[0] == v1.DefaultProject
			if err != nil && !builtIn {
				return err
			}
			if output != "" && !builtIn {
				return printObject(cmd.OutOrStdout(), output, projects[0])
			}
			out := cmd.OutOrStdout()
			if builtIn {
				fmt.Fprintf(out, "Project %s: not created, so the built-in default applies: every repository, destination and kind, no other rule\n"+
					"(unless the controller runs with --require-projects: then its Applications are denied until the Project exists)\n", v1.DefaultProject)
			} else {
				printProjectRules(out, &projects[0])
			}
			return printProjectApps(out, apps[args[0]])
		},
	}
	m.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a summary)")
	return cmd
}

var errNoProject = errors.New("no such Project")

// projects reads the Projects (only name, when not "") and every
// Application by Project, through the API or the kubeconfig. A missing
// named Project is errNoProject, with the Applications still read.
func (m *modeFlags) projects(cmd *cobra.Command, name string) ([]v1.Project, map[string][]server.AppSummary, error) {
	ctx := cmd.Context()
	viaAPI, err := m.useAPI()
	if err != nil {
		return nil, nil, err
	}
	var projects []v1.Project
	var summaries []server.AppSummary
	var missing error
	if viaAPI {
		c, _, err := m.api.client()
		if err != nil {
			return nil, nil, err
		}
		if name != "" {
			p, err := c.Project(ctx, name)
			var se *server.StatusError
			switch {
			case errors.As(err, &se) && se.Code == http.StatusNotFound:
				missing = fmt.Errorf("%w: %s", errNoProject, se.Message)
			case err != nil:
				return nil, nil, err
			default:
				projects = []v1.Project{*p}
			}
		} else if projects, err = c.Projects(ctx); err != nil {
			return nil, nil, err
		}
		if summaries, err = c.AllApplications(ctx, server.ListOptions{Project: name}); err != nil {
			return nil, nil, fmt.Errorf("listing Applications to count them: %w", err)
		}
	} else {
		c, _, _, err := m.kube.client()
		if err != nil {
			return nil, nil, err
		}
		list := &v1.ProjectList{}
		if name != "" {
			p := &v1.Project{}
			err := c.Get(ctx, types.NamespacedName{Name: name}, p)
			switch {
			case apierrors.IsNotFound(err):
				missing = fmt.Errorf("%w: %s", errNoProject, name)
			case err != nil:
				return nil, nil, err
			default:
				list.Items = []v1.Project{*p}
			}
		} else if err := c.List(ctx, list); err != nil {
			return nil, nil, err
		}
		projects = list.Items
		apps := &v1.ApplicationList{}
		if err := c.List(ctx, apps); err != nil {
			return nil, nil, fmt.Errorf("listing Applications to count them: %w", err)
		}
		for i := range apps.Items {
			summaries = append(summaries, server.Summarize(&apps.Items[i]))
		}
	}
	by := map[string][]server.AppSummary{}
	for _, a := range summaries {
		by[a.Project] = append(by[a.Project], a)
	}
	return projects, by, missing
}

func printProjectTable(out io.Writer, projects []v1.Project, apps map[string][]server.AppSummary) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tAPPS\tSERVICE-ACCOUNT\tSIGNED\tAPPROVALS\tIMAGES\tAGE")
	for _, p := range projects {
		s := p.Spec
		signed, approvals, images := "-", "-", "-"
		if s.Verification != nil {
			signed = string(cmp.Or(s.Verification.Mode, v1.VerifyHead))
		}
		if s.Approvals != nil {
			approvals = fmt.Sprint(s.Approvals.Required)
		}
		if s.Images != nil {
			images = strings.Join(s.Images.Registries, ",")
			if s.Images.RequireDigest {
				images += " @digest"
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, len(apps[p.Name]), orDash(s.ServiceAccountName), signed, approvals, images, age(p.CreationTimestamp.Time))
	}
	return w.Flush()
}

// printProjectRules says in words what a Project allows.
func printProjectRules(out io.Writer, p *v1.Project) {
	s := p.Spec
	line := func(label, value string) { fmt.Fprintf(out, "%-22s %s\n", label+":", value) }
	line("Project", p.Name)
	if s.Description != "" {
		line("Description", s.Description)
	}
	line("Used from namespaces", listOrNone(s.SourceNamespaces))
	line("Source repositories", listOrNone(s.SourceRepos))
	var dests []string
	for _, d := range s.Destinations {
		dests = append(dests, cmp.Or(d.Cluster, v1.InCluster)+"/"+d.Namespace)
	}
	line("Destinations", listOrNone(dests))
	line("Cluster-scoped kinds", kindRules(s.ClusterResources, "none"))
	line("Namespaced kinds", kindRules(s.NamespacedResources, "all"))
	if s.PodSecurityLabels {
		line("Pod security", "Namespace objects may set pod-security.kubernetes.io/ labels")
	}
	line("Service account", cmp.Or(s.ServiceAccountName, "- (the Application's, else the controller's default)"))
	if v := s.Verification; v != nil {
		line("Signatures", fmt.Sprintf("required on %s, keys from %s", cmp.Or(v.Mode, v1.VerifyHead), keySources(v.KeysFrom)))
	} else {
		line("Signatures", "- (as each Application asks)")
	}
	if a := s.Approvals; a != nil {
		line("Approvals", fmt.Sprintf("%d distinct %s: trailers, not the author, on a commit signed by %s", a.Required, cmp.Or(a.Trailer, "Approved-by"), keySources(a.KeysFrom)))
	} else {
		line("Approvals", "-")
	}
	if i := s.Images; i != nil {
		pinned := ""
		if i.RequireDigest {
			pinned = ", pinned by digest"
		}
		line("Images", "from "+listOrNone(i.Registries)+pinned)
	} else {
		line("Images", "- (any)")
	}
	if s.Secrets != nil && s.Secrets.RefusePlain {
		line("Secrets", "SOPS-encrypted in Git only")
	} else {
		line("Secrets", "- (plain allowed)")
	}
}

func printProjectApps(out io.Writer, apps []server.AppSummary) error {
	fmt.Fprintf(out, "\nApplications (%d):\n", len(apps))
	if len(apps) == 0 {
		return nil
	}
	slices.SortFunc(apps, func(a, b server.AppSummary) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return printSummaryTable(out, apps)
}

func kindRules(r v1.ResourceRules, byDefault string) string {
	allow, deny := byDefault, ""
	if len(r.Allow) > 0 {
		allow = groupKinds(r.Allow)
	}
	if len(r.Deny) > 0 {
		deny = "; denied: " + groupKinds(r.Deny)
	}
	return "allowed: " + allow + deny
}

func groupKinds(gks []v1.GroupKind) string {
	var out []string
	for _, gk := range gks {
		if gk.Group == "" {
			out = append(out, gk.Kind)
		} else {
			out = append(out, gk.Kind+"."+gk.Group)
		}
	}
	return strings.Join(out, ", ")
}

func keySources(ks []v1.KeySource) string {
	var out []string
	for _, k := range ks {
		name := cmp.Or(k.Kind, "Secret") + " " + k.Name
		if k.Namespace != "" {
			name = cmp.Or(k.Kind, "Secret") + " " + k.Namespace + "/" + k.Name
		}
		out = append(out, name)
	}
	return listOrNone(out)
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
