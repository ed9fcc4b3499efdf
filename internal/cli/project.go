package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
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
				printBuiltInRules(out)
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
				projects = []v1.Project{p.Project}
			}
		} else {
			l, err := c.Projects(ctx)
			if err != nil {
				return nil, nil, err
			}
			for _, p := range l.Items {
				projects = append(projects, p.Project)
			}
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

// printProjectRules says in words what a Project allows (policy.Describe).
func printProjectRules(out io.Writer, p *v1.Project) {
	fmt.Fprintf(out, "Project:      %s\n", p.Name)
	if d := p.Spec.Description; d != "" {
		if strings.ContainsFunc(d, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }) {
			d = strconv.Quote(d) // no escape sequences to the terminal
		}
		fmt.Fprintf(out, "Description:  %s\n", d)
	}
	printRules(out, policy.Describe(p))
}

// printBuiltInRules says what applies while no Project named default exists,
// which depends on the controller's --require-projects, unknown here.
func printBuiltInRules(out io.Writer) {
	fmt.Fprintf(out, "Project:      %s (not created)\n", v1.DefaultProject)
	printRules(out, policy.DescribeBuiltIn(false))
	fmt.Fprintf(out, "Unless the controller runs with --require-projects:\n  - %s\n", policy.DescribeBuiltIn(true)[0])
}

func printRules(out io.Writer, rules []string) {
	fmt.Fprintln(out, "Rules:")
	for _, r := range rules {
		fmt.Fprintf(out, "  - %s\n", r)
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
