package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func newGetProjectsCommand() *cobra.Command {
	var kf kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List Projects: how many Applications each holds and which guardrails it sets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, _, err := kf.client()
			if err != nil {
				return err
			}
			list := &v1.ProjectList{}
			if err := c.List(cmd.Context(), list); err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd.OutOrStdout(), output, list)
			}
			apps, err := applicationsByProject(cmd, c)
			if err != nil {
				return err
			}
			return printProjectTable(cmd.OutOrStdout(), list.Items, apps)
		},
	}
	kf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	return cmd
}

func newGetProjectCommand() *cobra.Command {
	var kf kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "project NAME",
		Short: "Show one Project: its rules and its Applications (of every namespace)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := kf.client()
			if err != nil {
				return err
			}
			p := &v1.Project{}
			err = c.Get(cmd.Context(), types.NamespacedName{Name: args[0]}, p)
			builtIn := apierrors.IsNotFound(err) && args[0] == v1.DefaultProject
			if err != nil && !builtIn {
				return err
			}
			if output != "" && !builtIn {
				return printObject(cmd.OutOrStdout(), output, p)
			}
			apps, err := applicationsByProject(cmd, c)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if builtIn {
				fmt.Fprintf(out, "Project %s: not created, so the built-in default applies: every repository, destination and kind, no other rule\n"+
					"(unless the controller runs with --require-projects: then its Applications are denied until the Project exists)\n", v1.DefaultProject)
			} else {
				printProjectRules(out, p)
			}
			return printProjectApps(out, apps[args[0]])
		},
	}
	kf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a summary)")
	return cmd
}

// applicationsByProject lists every namespace's Applications by Project name.
func applicationsByProject(cmd *cobra.Command, c client.Client) (map[string][]v1.Application, error) {
	list := &v1.ApplicationList{}
	if err := c.List(cmd.Context(), list); err != nil {
		return nil, fmt.Errorf("listing Applications to count them: %w", err)
	}
	by := map[string][]v1.Application{}
	for _, a := range list.Items {
		name := a.Spec.Project
		if name == "" {
			name = v1.DefaultProject
		}
		by[name] = append(by[name], a)
	}
	return by, nil
}

func printProjectTable(out io.Writer, projects []v1.Project, apps map[string][]v1.Application) error {
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

func printProjectApps(out io.Writer, apps []v1.Application) error {
	fmt.Fprintf(out, "\nApplications (%d):\n", len(apps))
	if len(apps) == 0 {
		return nil
	}
	slices.SortFunc(apps, func(a, b v1.Application) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return printAppTable(out, apps, true)
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
