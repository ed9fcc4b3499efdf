package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/migrate"
)

// ErrUnreadableInput ends lockstep import with a failure when an input could
// not be read or parsed; what the other inputs translated is printed anyway.
var ErrUnreadableInput = errors.New("some inputs could not be read")

func newImportCommand() *cobra.Command {
	var (
		files      []string
		opts       migrate.Options
		reportFile string
	)
	cmd := &cobra.Command{
		Use:   "import -f FILE|DIR [-f ...]",
		Short: "Translate Argo CD and Flux objects into Lockstep Applications and Projects",
		Long: `Import reads Argo CD Applications and AppProjects, and Flux GitRepositories with the
Kustomizations and HelmReleases that use them, and prints Lockstep Applications and
Projects as YAML on standard output. It reads no cluster and changes nothing: review
the YAML, commit it, or apply it.

The report, on standard error (or in --report FILE), lists every source object, what
was made from it, and every field that did not translate and why: LOOSER (the Lockstep
object allows more than the source did: read these first), invalid, not translated,
changed (translated with another meaning), and to do (a Secret to create, an option to
move into kustomization.yaml). An object missing something Lockstep needs is skipped,
never guessed. See docs/migrate.md.

-f takes files, folders (every .yaml, .yml and .json file under them) and - for standard
input, for example the output of kubectl get applications.argoproj.io -A -o yaml. Import
a Flux Kustomization or HelmRelease together with its GitRepository.

A Project is opened (spec.sourceNamespaces) to its AppProject's sourceNamespaces and to
the namespaces of the imported Applications that name it, never to every namespace given
by --namespace; a namespace the AppProject did not allow is reported LOOSER. Credentials
in repository URLs are never written: the report asks for a Secret instead.

A partial translation still prints what translated. The exit code is 1 only when an
input could not be read (a missing file, one over 8 MiB, a document that is not YAML).`,
		Example: `  # An Argo CD Application and its AppProject
  lockstep import -f guestbook-app.yaml -f my-project.yaml > lockstep.yaml

  # A Flux repository: the sources and Kustomizations of a cluster, into one namespace
  lockstep import -f clusters/production -f infrastructure --namespace team-a --report import-report.txt

  # What a live Argo CD holds, imported suspended so nothing syncs before review
  kubectl get applications.argoproj.io,appprojects.argoproj.io -A -o yaml | lockstep import -f - --suspend`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return &UsageError{errors.New("give at least one -f FILE|DIR (or -f - for standard input)")}
			}
			reader := migrate.NewReader(migrate.DefaultLimits())
			var docs []migrate.Document
			var unreadable []error
			for _, f := range files {
				var d []migrate.Document
				var errs []error
				if f == "-" {
					d, errs = reader.ReadStream("-", cmd.InOrStdin())
				} else {
					d, errs = reader.ReadPath(f)
				}
				docs, unreadable = append(docs, d...), append(unreadable, errs...)
			}
			res := migrate.Translate(docs, opts)
			res.Report.Unreadable = unreadable

			var out bytes.Buffer
			if err := res.WriteYAML(&out); err != nil {
				return err
			}
			if _, err := cmd.OutOrStdout().Write(out.Bytes()); err != nil {
				return err
			}
			var report bytes.Buffer
			if err := res.Report.Write(&report); err != nil {
				return err
			}
			if reportFile != "" {
				if err := os.WriteFile(reportFile, report.Bytes(), 0o644); err != nil {
					return err
				}
				c := res.Report.Counts()
				fmt.Fprintf(cmd.ErrOrStderr(), "%d Applications and %d Projects made from %d objects; %d findings (%d LOOSER) in %s\n",
					c.Applications, c.Projects, c.Objects, c.Findings, c.Looser, reportFile)
			} else if _, err := cmd.ErrOrStderr().Write(report.Bytes()); err != nil {
				return err
			}
			if len(unreadable) > 0 {
				return fmt.Errorf("%w (%d; listed at the top of the report); what the others translated is printed", ErrUnreadableInput, len(unreadable))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "filename", "f", nil, "a file, a folder, or - for standard input (repeatable)")
	f.StringVar(&opts.Namespace, "namespace", "", "put every Application in this namespace (default: each source object's own); a Project is opened to it only if an Application there names the Project")
	f.StringArrayVar(&opts.ProjectNamespaces, "project-namespace", nil, "the namespaces whose Applications may use every imported Project, spec.sourceNamespaces (repeatable; default: for each Project, its AppProject's sourceNamespaces and the namespaces of the imported Applications that name it); a namespace an AppProject did not allow is reported LOOSER")
	f.BoolVar(&opts.Suspend, "suspend", false, "import every Application suspended (spec.suspend: true): nothing syncs until you resume it")
	f.StringVar(&reportFile, "report", "", "write the report to this file instead of standard error")
	return cmd
}
