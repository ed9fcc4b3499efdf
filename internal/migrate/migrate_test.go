package migrate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/migrate"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// read reads inputs as lockstep import does, failing on unreadable ones.
func read(t *testing.T, paths ...string) []migrate.Document {
	t.Helper()
	r := migrate.NewReader(migrate.DefaultLimits())
	var docs []migrate.Document
	for _, p := range paths {
		d, errs := r.ReadPath(filepath.Join("testdata", p))
		if len(errs) > 0 {
			t.Fatalf("reading %s: %v", p, errs)
		}
		docs = append(docs, d...)
	}
	return docs
}

// item finds the report on kind/namespace/name.
func item(t *testing.T, res *migrate.Result, id string) *migrate.Item {
	t.Helper()
	for _, it := range res.Report.Items {
		if it.Source.String() == id {
			return it
		}
	}
	t.Fatalf("no report item %s", id)
	return nil
}

// findings are an item's findings as "kind field".
func findings(it *migrate.Item) []string {
	var out []string
	for _, f := range it.Findings {
		out = append(out, f.Kind.String()+" "+f.Field)
	}
	return out
}

func wantFindings(t *testing.T, it *migrate.Item, want ...string) {
	t.Helper()
	got := findings(it)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: no finding %q; got %q", it.Source, w, got)
		}
	}
}

func application(t *testing.T, res *migrate.Result, ns, name string) *v1.Application {
	t.Helper()
	for _, a := range res.Applications {
		if a.Namespace == ns && a.Name == name {
			return a
		}
	}
	t.Fatalf("no Application %s/%s among %d", ns, name, len(res.Applications))
	return nil
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func ptr[T any](v T) *T                         { return &v }

// Argo CD's annotated Application (docs/operator-manual/application.yaml)
// sets both source and sources: Argo CD uses sources, which Lockstep cannot.
// With sources, the Helm-repository chart and the plugin taken out, every
// other field either translates or is reported.
func TestArgoCDAnnotatedApplication(t *testing.T) {
	docs := read(t, "argocd/application.yaml")
	res := migrate.Translate(docs, migrate.Options{})
	if it := item(t, res, "Application/argocd/guestbook"); !strings.Contains(it.Skipped, "spec.source and spec.sources") {
		t.Errorf("skipped = %q, want both sources named", it.Skipped)
	}

	spec := docs[0].Object["spec"].(map[string]any)
	delete(spec, "sources")
	src := spec["source"].(map[string]any)
	delete(src, "chart")
	delete(src, "plugin")
	res = migrate.Translate(docs, migrate.Options{})
	app := application(t, res, "argocd", "guestbook")
	want := v1.ApplicationSpec{
		Project: "default",
		Source: v1.Source{
			Git:  v1.GitSource{URL: "https://github.com/argoproj/argocd-example-apps.git"},
			Path: "guestbook",
			Helm: &v1.HelmOptions{ReleaseName: "guestbook", ValuesFiles: []string{"values-prod.yaml"}},
			Jsonnet: &v1.JsonnetOptions{
				ExtVars: map[string]string{"foo": "bar"},
				TLAs:    map[string]string{"foo": "bar"},
			},
		},
		Destination: v1.Destination{Cluster: v1.InCluster, Namespace: "guestbook"},
		Sync: v1.SyncPolicy{
			Automated: ptr(true), Prune: true, SelfHeal: true, CreateNamespace: true,
			Retry:             &v1.RetryPolicy{Limit: 5, Backoff: duration(5 * time.Second), MaxBackoff: duration(3 * time.Minute)},
			IgnoreDifferences: []v1.IgnoreDifference{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}},
		},
	}
	values := app.Spec.Source.Helm.Values
	app.Spec.Source.Helm.Values = nil
	if diff := cmp.Diff(want, app.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	// values, then valuesObject, then parameters (Helm --set, escaped dots).
	var v map[string]any
	if err := json.Unmarshal(values.Raw, &v); err != nil {
		t.Fatal(err)
	}
	ingress := v["ingress"].(map[string]any)
	if ingress["annotations"].(map[string]any)["kubernetes.io/tls-acme"] != "true" || ingress["enabled"] != true {
		t.Errorf("ingress values: %v", ingress)
	}
	ann := v["nginx-ingress"].(map[string]any)["controller"].(map[string]any)["service"].(map[string]any)["annotations"].(map[string]any)
	if ann["external-dns.alpha.kubernetes.io/hostname"] != "mydomain.example.com" {
		t.Errorf("parameter with escaped dots: %v", ann)
	}
	if app.Labels["name"] != "guestbook" {
		t.Errorf("labels: %v", app.Labels)
	}

	it := item(t, res, "Application/argocd/guestbook")
	wantFindings(t, it,
		"changed metadata.finalizers",
		"changed spec.source.helm",
		"not translated spec.source.helm.fileParameters",
		"not translated spec.source.helm.version",
		"not translated spec.source.kustomize.namePrefix",
		"not translated spec.source.kustomize.images",
		"not translated spec.source.kustomize.version",
		"not translated spec.source.directory.include",
		"not translated spec.source.directory.exclude",
		"not translated spec.source.directory.jsonnet.extVars[1]",
		"not translated spec.syncPolicy.syncOptions[0]",
		"not translated spec.syncPolicy.syncOptions[2]",
		"not translated spec.syncPolicy.syncOptions[3]",
		"not translated spec.syncPolicy.managedNamespaceMetadata",
		"not translated spec.ignoreDifferences[1].jqPathExpressions",
		"not translated spec.ignoreDifferences[2]",
		"not translated spec.info",
		"not translated spec.revisionHistoryLimit",
	)
	// RespectIgnoreDifferences=true: Lockstep's meaning, nothing to say.
	if slices.Contains(findings(it), "changed spec.ignoreDifferences") {
		t.Error("ignoreDifferences reported as changed despite RespectIgnoreDifferences=true")
	}
}

// Argo CD's annotated AppProject (docs/operator-manual/project.yaml).
func TestArgoCDProject(t *testing.T) {
	res := migrate.Translate(read(t, "argocd/project.yaml"), migrate.Options{})
	if len(res.Projects) != 1 {
		t.Fatalf("%d Projects", len(res.Projects))
	}
	want := v1.ProjectSpec{
		Description:      "Example Project",
		SourceNamespaces: []string{"argocd-apps-*"}, // no Application names it
		SourceRepos:      []string{"*"},
		Destinations:     []v1.ProjectDestination{{Namespace: "guestbook"}},
		ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Kind: "Namespace"}}},
		NamespacedResources: v1.ResourceRules{
			Allow: []v1.GroupKind{{Group: "apps", Kind: "Deployment"}, {Group: "apps", Kind: "StatefulSet"}},
			Deny:  []v1.GroupKind{{Kind: "ResourceQuota"}, {Kind: "LimitRange"}, {Kind: "NetworkPolicy"}},
		},
	}
	if diff := cmp.Diff(want, res.Projects[0].Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	wantFindings(t, item(t, res, "AppProject/argocd/my-project"),
		"LOOSER spec.syncWindows", "not translated spec.roles", "not translated spec.orphanedResources",
		"not translated metadata.finalizers")

	// --project-namespace replaces the namespaces: one the AppProject did
	// not allow is LOOSER.
	res = migrate.Translate(read(t, "argocd/project.yaml"), migrate.Options{ProjectNamespaces: []string{"team-a"}})
	if got := res.Projects[0].Spec.SourceNamespaces; !slices.Equal(got, []string{"team-a"}) {
		t.Errorf("sourceNamespaces = %v", got)
	}
	wantFindings(t, item(t, res, "AppProject/argocd/my-project"), "changed spec.sourceNamespaces", "LOOSER spec.sourceNamespaces")
}

// The app-of-apps of argoproj/argocd-example-apps, rendered: Argo CD syncs
// by hand unless automated, Lockstep the other way round.
func TestArgoCDExampleApps(t *testing.T) {
	res := migrate.Translate(read(t, "argocd/app-of-apps.yaml"), migrate.Options{Namespace: "team-a"})
	if len(res.Applications) != 4 {
		t.Fatalf("%d Applications", len(res.Applications))
	}
	for _, name := range []string{"helm-guestbook", "helm-hooks", "sync-waves"} {
		if a := application(t, res, "team-a", name); a.Spec.Sync.IsAutomated() || a.Spec.Destination.Namespace != name {
			t.Errorf("%s: automated %v, destination %s", name, a.Spec.Sync.IsAutomated(), a.Spec.Destination.Namespace)
		}
	}
	k := application(t, res, "team-a", "kustomize-guestbook")
	if !k.Spec.Sync.IsAutomated() || !k.Spec.Sync.Prune || k.Spec.Sync.SelfHeal || k.Spec.Source.Git.URL != "https://github.com/argoproj/argocd-example-apps" {
		t.Errorf("kustomize-guestbook: %+v", k.Spec)
	}
}

// fluxcd/flux2-kustomize-helm-example's staging cluster: the bootstrap
// GitRepository and Kustomization, the apps and infrastructure
// Kustomizations, cert-manager from a Helm repository. Golden files: the
// YAML and the report (go test -update rewrites them; read the diff).
func TestFluxKustomizeHelmExample(t *testing.T) {
	docs := read(t, "flux/gotk-sync.yaml", "flux/apps.yaml", "flux/infrastructure.yaml", "flux/cert-manager.yaml")
	res := migrate.Translate(docs, migrate.Options{})
	var yamlOut, report bytes.Buffer
	if err := res.WriteYAML(&yamlOut); err != nil {
		t.Fatal(err)
	}
	if err := res.Report.Write(&report); err != nil {
		t.Fatal(err)
	}
	golden(t, "flux-kustomize-helm-example.yaml", yamlOut.Bytes())
	golden(t, "flux-kustomize-helm-example.report", report.Bytes())

	apps := application(t, res, "flux-system", "apps")
	if !slices.Equal(apps.Spec.DependsOn, []v1.LocalObjectReference{{Name: "infra-configs"}}) || !apps.Spec.Sync.Wait ||
		apps.Spec.Source.Git.SecretRef == nil || apps.Spec.Sync.Interval.Duration != time.Minute {
		t.Errorf("apps: %+v", apps.Spec)
	}
	wantFindings(t, item(t, res, "Kustomization/flux-system/infra-configs"), "not translated spec.patches")
	if it := item(t, res, "HelmRelease/cert-manager/cert-manager"); !strings.Contains(it.Skipped, "helm pull --repo https://charts.jetstack.io") {
		t.Errorf("cert-manager: %q", it.Skipped)
	}
	if it := item(t, res, "GitRepository/flux-system/flux-system"); len(it.UsedBy) != 4 {
		t.Errorf("GitRepository used by %v", it.UsedBy)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// A HelmRelease whose chart is a folder of a GitRepository translates (the
// Flux guide's GitRepository and chart template); one from a Helm
// repository is skipped, naming it.
func TestFluxHelmReleases(t *testing.T) {
	res := migrate.Translate(read(t, "flux/helmrelease-from-git.yaml", "flux/podinfo"), migrate.Options{})
	app := application(t, res, "default", "podinfo")
	if app.Spec.Source.Path != "charts/podinfo" || string(app.Spec.Source.Helm.Values.Raw) != `{"replicaCount":2}` ||
		app.Spec.Destination.Namespace != "default" || !app.Spec.Sync.Prune || !app.Spec.Sync.Wait || app.Spec.Sync.SelfHeal {
		t.Errorf("podinfo: %+v", app.Spec)
	}
	wantFindings(t, item(t, res, "GitRepository/flux-system/podinfo"), "not translated spec.ignore")
	wantFindings(t, item(t, res, "HelmRelease/default/podinfo"), "changed spec.chart", "changed spec.driftDetection")
	if it := item(t, res, "HelmRelease/podinfo/podinfo"); !strings.Contains(it.Skipped, "HelmRepository/podinfo/podinfo") {
		t.Errorf("podinfo from a Helm repository: %q", it.Skipped)
	}
	if it := item(t, res, "Kustomization/(no name)"); !strings.Contains(it.Skipped, "kustomization.yaml") {
		t.Errorf("a kustomization.yaml: %q", it.Skipped)
	}
}
