package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/cli"
)

// runSplit runs a command with separate standard output and error.
func runSplit(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

const fixtures = "../migrate/testdata"

// lockstep import prints YAML on standard output and the report on standard
// error, or in --report; a partial translation succeeds.
func TestImportPrintsYAMLAndAReport(t *testing.T) {
	stdout, stderr, err := runSplit(t, "", "import", "-f", filepath.Join(fixtures, "flux"), "-f", filepath.Join(fixtures, "argocd/project.yaml"), "--namespace", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "kind: Application\nmetadata:\n  name: infra-configs\n  namespace: team-a") || !strings.Contains(stdout, "kind: Project") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if strings.Contains(stdout, "skipped") || !strings.Contains(stderr, "skipped: the chart comes from the Helm repository") || !strings.Contains(stderr, "LOOSER") {
		t.Errorf("stderr:\n%s", stderr)
	}

	report := filepath.Join(t.TempDir(), "report.txt")
	_, stderr, err = runSplit(t, "", "import", "-f", filepath.Join(fixtures, "argocd"), "--report", report, "--suspend")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(report)
	if !strings.Contains(string(data), "Application/argocd/guestbook") || !strings.Contains(stderr, "findings") {
		t.Errorf("report file:\n%s\nstderr: %s", data, stderr)
	}
}

// Standard input, and exit codes: unreadable input fails (after printing what
// translated), a missing -f is a usage error.
func TestImportExitCodes(t *testing.T) {
	in := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a, namespace: argocd}\nspec:\n  source: {repoURL: 'https://git/x', path: p}\n  destination: {server: 'https://kubernetes.default.svc', namespace: ns}\n---\n: : not yaml\n"
	stdout, stderr, err := runSplit(t, in, "import", "-f", "-")
	if err == nil || cli.ExitCode(err) != cli.ExitError || !strings.Contains(stdout, "name: a") || !strings.Contains(stderr, "unreadable: -:8: not YAML") {
		t.Errorf("err %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if _, _, err := runSplit(t, "", "import", "-f", "/no/such/file"); err == nil || cli.ExitCode(err) != cli.ExitError {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := runSplit(t, "", "import"); cli.ExitCode(err) != cli.ExitUsage {
		t.Errorf("no -f: %v", err)
	}
	if out, _, err := runSplit(t, "", "import", "--help"); err != nil || !strings.Contains(out, "lockstep import -f") {
		t.Errorf("help: %v\n%s", err, out)
	}
}

// --namespace opens only the Projects its Applications name: a platform
// AppProject no Application names stays closed, and the one that is named
// is opened with a LOOSER finding. Credentials in a URL reach neither the
// YAML nor the report.
func TestImportNamespaceOpensOnlyNamedProjects(t *testing.T) {
	in := `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: platform, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{namespace: '*', server: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team, namespace: argocd}
spec:
  sourceRepos: ['https://git.internal/team/*']
  destinations: [{namespace: team-a, server: '*'}]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: team
  source: {repoURL: 'https://bob:TOPSECRETPW2@git.internal/team/web.git', path: deploy}
  destination: {server: 'https://kubernetes.default.svc', namespace: team-a}
`
	stdout, stderr, err := runSplit(t, in, "import", "-f", "-", "--namespace", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	platform, team, _ := strings.Cut(stdout, "name: team\n")
	if strings.Contains(platform, "sourceNamespaces") || !strings.Contains(team, "sourceNamespaces:\n  - team-a\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "LOOSER         spec.sourceNamespaces: team-a") || !strings.Contains(stderr, "(1 LOOSER") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if strings.Contains(stdout+stderr, "TOPSECRETPW2") || !strings.Contains(stdout, "url: https://git.internal/team/web.git") {
		t.Errorf("credentials written:\n%s\n%s", stdout, stderr)
	}
}
