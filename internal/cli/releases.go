package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func newGetReleasesCommand() *cobra.Command {
	var m modeFlags
	var output string
	var q server.ReleaseQuery
	cmd := &cobra.Command{
		Use:   "releases [APP...]",
		Short: "Show which revision and images each environment runs, since when, from the ledger",
		Long: `Shows, for each Application (an environment), the release it runs: the revision, its
commit subject, the images its last sync applied, and since when it has run that
revision (its first successful sync there, read from the audit ledger; re-syncs, drift
reverted and failed syncs do not move it). Applications come in promotion order: each
after the one its spec.promotion.from names (dev, stage, prod).

APP is NAME or NAMESPACE/NAME (the namespace is -n, else the context's); without APP,
every Application whose ledger you may read, or those of -n's namespace. --history N
lists each one's N earlier releases under it. -o yaml and -o json give the images in
full, with who or what made each release.`,
		Example: `  lockstep get releases
  lockstep get releases --project shop --history 3
  lockstep get releases shop/web-stage shop/web-prod -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "table", "json", "yaml":
			default:
				return &UsageError{fmt.Errorf("-o %q: want table, json or yaml", output)}
			}
			c, r, err := m.api.client()
			if err != nil {
				return err
			}
			for _, arg := range args {
				ns, name, err := m.appKey(arg, r.Namespace)
				if err != nil {
					return &UsageError{err}
				}
				q.Applications = append(q.Applications, ns+"/"+name)
			}
			if len(args) == 0 {
				q.Namespace = m.kube.namespace
			}
			list, err := c.Releases(cmd.Context(), q)
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				return printObject(cmd.OutOrStdout(), output, list)
			}
			return printReleases(cmd.OutOrStdout(), list.Items, time.Now())
		},
	}
	m.api.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&m.kube.namespace, "namespace", "n", "", "namespace of the Applications (default: every one, or the context's for an APP without one)")
	f.StringVar(&q.Project, "project", "", "only this Project's Applications")
	f.IntVar(&q.History, "history", 0, fmt.Sprintf("also show each one's earlier releases, this many (at most %d)", server.MaxHistory))
	f.StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
}

// printReleases writes one row per Application, and its earlier releases
// indented under it.
func printReleases(out io.Writer, items []server.AppReleases, now time.Time) error {
	if len(items) == 0 {
		fmt.Fprintln(out, "no Applications whose ledger you may read match")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ENVIRONMENT\tFROM\tREVISION\tSINCE\tIMAGES\tSUBJECT")
	for _, it := range items {
		env := it.Namespace + "/" + it.Name
		if it.Current == nil {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\tno successful sync in the ledger\n", env, orDash(it.From))
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", env, orDash(it.From), releaseColumns(*it.Current, now))
		for i, p := range it.Previous {
			branch := "├─"
			if i == len(it.Previous)-1 {
				branch = "└─"
			}
			fmt.Fprintf(w, "  %s\t\t%s\n", branch, releaseColumns(p, now))
		}
	}
	return w.Flush()
}

// releaseColumns are a release's REVISION, SINCE, IMAGES and SUBJECT.
func releaseColumns(r audit.Release, now time.Time) string {
	subject := ""
	if r.Commit != nil {
		subject = trim(release.Printable(r.Commit.Subject), 60)
	}
	if r.Rollback {
		subject += " (rollback)"
	}
	since := ageAt(now, r.Since) + " (" + when(r.Since) + ")"
	return fmt.Sprintf("%s\t%s\t%s\t%s", short(r.Revision), since, orDash(shortImages(r.Images)), orDash(strings.TrimSpace(subject)))
}

// maxImagesShown bounds the images a row names; -o yaml has them all.
const maxImagesShown = 3

// shortImages names images as a table can hold them: digests cut to 12
// hex digits, at most maxImagesShown of them.
func shortImages(images []string) string {
	return joinAtMost(images, maxImagesShown, shortImage, "+%d more")
}

// shortImage is registry/path[:tag]@sha256:0123456789ab of a reference
// pinned by digest, the reference itself otherwise.
func shortImage(ref string) string {
	name, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return ref
	}
	if algo, hex, ok := strings.Cut(digest, ":"); ok && len(hex) > 12 {
		digest = algo + ":" + hex[:12]
	}
	return name + "@" + digest
}
