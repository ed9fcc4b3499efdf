// Package clustertest checks lockstep import's output against a real API
// server with Lockstep's CRDs: their schemas, CEL rules and limits. It is a
// package of its own so that the translation's unit tests start no control
// plane.
package clustertest

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/lockstep-dev/lockstep/config/crd"
	"github.com/lockstep-dev/lockstep/internal/migrate"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Every object lockstep import makes of the fixtures (Argo CD's and Flux's
// published examples) is accepted by the API server, dry-run; and the
// server does check: a name past the CRD's limits is refused.
func TestClusterAcceptsTheTranslatedObjects(t *testing.T) {
	ctx := testenv.Context(t)
	cfg := testenv.Config(t)
	if err := crd.Install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)

	reader := migrate.NewReader(migrate.DefaultLimits())
	var docs []migrate.Document
	for _, dir := range []string{"argocd", "flux"} {
		d, errs := reader.ReadPath(filepath.Join("..", "testdata", dir))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		docs = append(docs, d...)
	}
	// The annotated Argo CD Application without what makes it skip (two
	// sources, a Helm-repository chart, a plugin): every field that translates.
	for _, d := range docs {
		if spec, ok := d.Object["spec"].(map[string]any); ok && d.Object["kind"] == "Application" && spec["sources"] != nil {
			delete(spec, "sources")
			src := spec["source"].(map[string]any)
			delete(src, "chart")
			delete(src, "plugin")
		}
	}
	res := migrate.Translate(docs, migrate.Options{Namespace: ns})
	objs, err := res.Objects()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applications) < 10 || len(res.Projects) != 1 {
		t.Fatalf("%d Applications, %d Projects", len(res.Applications), len(res.Projects))
	}
	for _, o := range objs {
		if err := c.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s/%s refused: %v", o.GetKind(), o.GetName(), err)
		}
	}

	// The server validates what it is given: past the CRDs' limits, refused.
	for _, mutate := range []func(o *unstructured.Unstructured){
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, strings.Repeat("a", 60), "spec", "source", "helm", "releaseName")
		},
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "abc1234", "spec", "source", "git", "ref", "commit")
		},
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "../etc", "spec", "source", "path")
		},
	} {
		bad := objs[len(objs)-1].DeepCopy()
		mutate(bad)
		if err := c.Create(ctx, bad, client.DryRunAll); err == nil {
			t.Errorf("the API server accepted %v", bad.Object["spec"])
		}
	}
}

// An allow list none of whose entries translated is kept closed by an entry
// that matches no kind; the API server takes it. So do the Applications
// whose repository URL held credentials, written without them and naming a
// Secret instead.
func TestClusterAcceptsAClosedAllowListAndCredentialsTakenOut(t *testing.T) {
	ctx := testenv.Context(t)
	cfg := testenv.Config(t)
	if err := crd.Install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	in := `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: globs-only, namespace: argocd}
spec:
  sourceRepos: ['https://bob:TOPSECRETPW2@git.internal/*']
  destinations: [{namespace: guestbook, server: '*'}]
  namespaceResourceWhitelist: [{group: apps, kind: 'Deploy*'}, {group: '', kind: 'ConfigMap?'}]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: with-credentials, namespace: argocd}
spec:
  project: globs-only
  source: {repoURL: 'https://bob:TOPSECRETPW2@git.internal/x.git', path: p}
  destination: {server: 'https://kubernetes.default.svc', namespace: guestbook}
`
	docs, errs := migrate.NewReader(migrate.DefaultLimits()).ReadStream("in.yaml", strings.NewReader(in))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res := migrate.Translate(docs, migrate.Options{Namespace: ns})
	if len(res.Projects) != 1 || len(res.Projects[0].Spec.NamespacedResources.Allow) != 1 || len(res.Applications) != 1 {
		t.Fatalf("%d Projects, %d Applications", len(res.Projects), len(res.Applications))
	}
	objs, err := res.Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s/%s refused: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
