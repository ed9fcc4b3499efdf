package migrate_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/migrate"
)

// parse reads one stream, returning its documents and its errors as text.
func parse(t *testing.T, limits migrate.Limits, text string) ([]migrate.Document, string) {
	t.Helper()
	docs, errs := migrate.NewReader(limits).ReadStream("in.yaml", strings.NewReader(text))
	return docs, fmt.Sprint(errs)
}

// Inputs that are not what they should be are refused with a message naming
// the file and line, and the rest of the stream is still read.
func TestMalformedInputsAreRefusedClearly(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	blockDeep := "a:\n"
	for i := 1; i < 80; i++ {
		blockDeep += strings.Repeat("  ", i) + "a:\n"
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not YAML", "kind: [unclosed\n", "in.yaml:1: not YAML"},
		{"not YAML on line 3", "---\napiVersion: v1\nkind: : :\n", "in.yaml:3: not YAML"},
		{"a list, not an object", "- a\n- b\n", "not a Kubernetes object: the document is a list"},
		{"a string, not an object", "hello\n", "not a Kubernetes object: the document is a string"},
		{"a key twice", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nkind: AppProject\n", `key "kind" already set`},
		{"deeply nested flow", "a: " + deep + "\n", "nested more than 64 levels deep"},
		{"deeply nested blocks", blockDeep, "nested more than 64 levels deep"},
		{"a List whose items are no list", "apiVersion: v1\nkind: List\nitems: 3\n", "List: items must be a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := parse(t, migrate.DefaultLimits(), tc.in)
			if !strings.Contains(errs, tc.want) {
				t.Errorf("errors %s, want %q", errs, tc.want)
			}
		})
	}

	// One bad document does not hide the good ones around it.
	docs, errs := parse(t, migrate.DefaultLimits(), "kind: A\napiVersion: v1\n---\n: : bad\n---\nkind: B\napiVersion: v1\n")
	if len(docs) != 2 || !strings.Contains(errs, "in.yaml:4:") {
		t.Errorf("%d documents, errors %s", len(docs), errs)
	}
	// Lists are expanded; empty documents and comments are nothing.
	docs, errs = parse(t, migrate.DefaultLimits(), "# only a comment\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n- {apiVersion: v1, kind: B}\n")
	if len(docs) != 2 || errs != "[]" {
		t.Errorf("%d documents, errors %s", len(docs), errs)
	}
}

// Oversized inputs stop at the limit, naming it: one file, all together, the
// number of objects.
func TestOversizedInputsStopAtTheLimits(t *testing.T) {
	limits := migrate.Limits{MaxFileBytes: 1 << 10, MaxTotalBytes: 3 << 10, MaxDocuments: 5, MaxDepth: 64}
	_, errs := parse(t, limits, "a: "+strings.Repeat("x", 2<<10)+"\n")
	if !strings.Contains(errs, "larger than 1024 bytes") {
		t.Errorf("a big file: %s", errs)
	}
	r := migrate.NewReader(limits)
	var last []error
	for i := range 5 {
		_, last = r.ReadStream(fmt.Sprint(i), strings.NewReader("a: "+strings.Repeat("x", 900)+"\n"))
	}
	if len(last) != 1 || !errors.Is(last[0], migrate.ErrLimit) || !strings.Contains(last[0].Error(), "together") {
		t.Errorf("past the total: %v", last)
	}
	_, errs = parse(t, limits, strings.Repeat("---\napiVersion: v1\nkind: A\n", 7))
	if !strings.Contains(errs, "more than 5 objects") {
		t.Errorf("too many objects: %s", errs)
	}

	// A huge document under the default limits: refused, quickly.
	huge := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec:\n  info: \"" + strings.Repeat("x", 9<<20) + "\"\n"
	_, errs = parse(t, migrate.DefaultLimits(), huge)
	if !strings.Contains(errs, "larger than 8388608 bytes") {
		t.Errorf("a huge document: %.200s", errs)
	}
}

// Folders are read recursively, only YAML and JSON, hidden ones skipped; a
// missing path and an empty folder are errors.
func TestFolders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "apiVersion: v1\nkind: A\n")
	write("sub/b.json", `{"apiVersion": "v1", "kind": "B"}`)
	write("sub/notes.txt", "not read")
	write(".git/c.yaml", "apiVersion: v1\nkind: C\n")
	docs, errs := migrate.NewReader(migrate.DefaultLimits()).ReadPath(dir)
	if len(docs) != 2 || len(errs) != 0 {
		t.Errorf("%d documents, errors %v", len(docs), errs)
	}
	if _, errs := migrate.NewReader(migrate.DefaultLimits()).ReadPath(filepath.Join(dir, "missing")); len(errs) != 1 {
		t.Errorf("a missing path: %v", errs)
	}
	if _, errs := migrate.NewReader(migrate.DefaultLimits()).ReadPath(t.TempDir()); len(errs) != 1 || !strings.Contains(errs[0].Error(), "no .yaml") {
		t.Errorf("an empty folder: %v", errs)
	}
}

// translate translates one stream that must parse.
func translate(t *testing.T, opts migrate.Options, text string) *migrate.Result {
	t.Helper()
	docs, errs := parse(t, migrate.DefaultLimits(), text)
	if errs != "[]" {
		t.Fatal(errs)
	}
	return migrate.Translate(docs, opts)
}

const app = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: %s, namespace: argocd}
spec:
  source: {repoURL: %s, path: %s, targetRevision: %s}
  destination: {server: %s, namespace: %s}
`

func argoApp(name, repo, path, rev, server, ns string) string {
	return fmt.Sprintf(app, name, repo, path, rev, server, ns)
}

// Objects missing or misusing what Lockstep needs are skipped, saying why;
// nothing is made up.
func TestObjectsThatCannotTranslateAreSkippedSayingWhy(t *testing.T) {
	in := "https://kubernetes.default.svc"
	long := strings.Repeat("a", 254)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"another cluster", argoApp("a", "https://git/x", "p", "main", "https://10.0.0.1:6443", "ns"), "another cluster (https://10.0.0.1:6443)"},
		{"plain http", argoApp("a", "http://git/x", "p", "main", in, "ns"), "over https:// or ssh:// only"},
		{"a path leaving the repository", argoApp("a", "https://git/x", "../etc", "main", in, "ns"), "leaves the repository root"},
		{"an abbreviated commit", argoApp("a", "https://git/x", "p", "abc1234", in, "ns"), "abbreviated commit"},
		{"a name too long", argoApp(long, "https://git/x", "p", "main", in, "ns"), "not a valid Lockstep object name"},
		{"a bad name", argoApp("Bad_Name", "https://git/x", "p", "main", in, "ns"), "not a valid Lockstep object name"},
		{"a destination namespace too long", argoApp("a", "https://git/x", "p", "main", in, strings.Repeat("n", 64)), "not a namespace name"},
		{"no repoURL", argoApp("a", `""`, "p", "main", in, "ns"), "spec.source.repoURL is missing"},
		{"a repoURL of the wrong type", argoApp("a", "5", "p", "main", in, "ns"), "spec.source.repoURL is missing"},
		{"no spec", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a, namespace: argocd}\n", "spec is missing"},
		{"no namespace", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec: {}\n", "give --namespace"},
		{"an ApplicationSet", "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: a, namespace: argocd}\n", "ApplicationSets are not translated"},
		{"a Kustomization without its GitRepository", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: flux-system}\nspec: {sourceRef: {kind: GitRepository, name: gone}, path: ./x, prune: true}\n", "GitRepository/flux-system/gone is not among the inputs"},
		{"a Kustomization from an OCIRepository", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: flux-system}\nspec: {sourceRef: {kind: OCIRepository, name: x}, prune: true}\n", "Lockstep reads Git repositories only"},
		{"an unknown kind", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n", "not an Argo CD or Flux object"},
		{"no kind", "metadata: {name: a}\n", "apiVersion and kind are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := translate(t, migrate.Options{}, tc.in)
			if len(res.Applications)+len(res.Projects) != 0 {
				t.Errorf("made %d Applications", len(res.Applications))
			}
			if it := res.Report.Items[0]; !strings.Contains(it.Skipped, tc.want) {
				t.Errorf("skipped: %q, want %q (findings %v)", it.Skipped, tc.want, it.Findings)
			}
		})
	}
}

// Wrong types are reported as invalid, not guessed at or dropped quietly;
// unknown fields are reported as not translated.
func TestWrongTypesAndUnknownFieldsAreReported(t *testing.T) {
	res := translate(t, migrate.Options{}, argoApp("a", "https://git/x", "p", "main", "https://kubernetes.default.svc", "ns")+
		"  syncPolicy: {automated: {prune: \"yes\"}, retry: {limit: five}}\n  newField: {x: 1}\n")
	it := res.Report.Items[0]
	wantFindings(t, it, "invalid spec.syncPolicy.automated.prune", "invalid spec.syncPolicy.retry.limit", "not translated spec.newField")
	if len(res.Applications) != 1 || res.Applications[0].Spec.Sync.Prune {
		t.Errorf("%+v", res.Applications)
	}
}

// Two objects that would make one Application: the second is skipped,
// naming the first; --namespace folding namespaces is caught the same way.
func TestDuplicateNames(t *testing.T) {
	in := "https://kubernetes.default.svc"
	res := translate(t, migrate.Options{}, argoApp("a", "https://git/x", "p", "main", in, "ns")+"---\n"+argoApp("a", "https://git/y", "q", "main", in, "ns"))
	if len(res.Applications) != 1 || !strings.Contains(res.Report.Items[1].Skipped, "Application/argocd/a was already made from Application/argocd/a (in.yaml:1)") {
		t.Errorf("%d Applications; %q", len(res.Applications), res.Report.Items[1].Skipped)
	}
	two := strings.Replace(argoApp("a", "https://git/y", "q", "main", in, "ns"), "namespace: argocd", "namespace: other", 1)
	res = translate(t, migrate.Options{Namespace: "team-a"}, argoApp("a", "https://git/x", "p", "main", in, "ns")+"---\n"+two)
	if len(res.Applications) != 1 || !strings.Contains(res.Report.Items[1].Skipped, "already made") {
		t.Errorf("with --namespace: %d Applications", len(res.Applications))
	}
}

// Secret material never reaches the output or the report.
func TestSecretsAreNeverCopied(t *testing.T) {
	res := translate(t, migrate.Options{}, "apiVersion: v1\nkind: Secret\nmetadata: {name: flux-system, namespace: flux-system}\nstringData: {password: hunter2-very-secret}\n")
	var report strings.Builder
	if err := res.Report.Write(&report); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(report.String(), "hunter2") || len(res.Applications) != 0 || !strings.Contains(report.String(), "never translated or copied") {
		t.Errorf("report:\n%s", report.String())
	}
}

// Revisions: Argo CD's one field becomes the ref Lockstep needs, and a guess
// between a branch and a tag is said.
func TestArgoCDRevisions(t *testing.T) {
	in := "https://kubernetes.default.svc"
	for rev, want := range map[string]string{
		"HEAD":                  "{Branch: Tag: Semver: Commit:}",
		"refs/heads/release":    "{Branch:release Tag: Semver: Commit:}",
		"refs/tags/v1.2.3":      "{Branch: Tag:v1.2.3 Semver: Commit:}",
		"v1.2.3":                "{Branch: Tag:v1.2.3 Semver: Commit:}",
		"'>=1.2.0 <2.0.0'":      "{Branch: Tag: Semver:>=1.2.0 <2.0.0 Commit:}",
		"1.2.*":                 "{Branch: Tag: Semver:1.2.* Commit:}",
		"production":            "{Branch:production Tag: Semver: Commit:}",
		strings.Repeat("a", 40): "{Branch: Tag: Semver: Commit:" + strings.Repeat("a", 40) + "}",
	} {
		res := translate(t, migrate.Options{}, argoApp("a", "git@github.com:org/repo.git", "p", rev, in, "ns"))
		if len(res.Applications) != 1 {
			t.Errorf("%s: skipped: %s", rev, res.Report.Items[0].Skipped)
			continue
		}
		a := res.Applications[0]
		if got := fmt.Sprintf("%+v", a.Spec.Source.Git.Ref); got != want {
			t.Errorf("%s: ref %s, want %s", rev, got, want)
		}
		if a.Spec.Source.Git.URL != "ssh://git@github.com/org/repo.git" {
			t.Errorf("scp-like URL became %s", a.Spec.Source.Git.URL)
		}
	}
}
