package crd_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/config/crd"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var applications = schema.GroupVersionResource{Group: "lockstep.dev", Version: "v1alpha1", Resource: "applications"}

func application(t *testing.T, spec string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	doc := "apiVersion: lockstep.dev/v1alpha1\nkind: Application\nmetadata: {name: app}\nspec:\n" + spec
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestInstallIsIdempotentAndTheSchemaDefaultsAndValidates(t *testing.T) {
	ctx := testenv.Context(t)
	for range 2 { // install, then upgrade in place
		if err := crd.Install(ctx, testenv.Config(t)); err != nil {
			t.Fatal(err)
		}
	}
	ns := testenv.Namespace(t)
	apps := dynamic.NewForConfigOrDie(testenv.Config(t)).Resource(applications).Namespace(ns)

	valid := `  source:
    git: {url: "https://git.internal/team/config.git", ref: {branch: main}}
    path: apps/web
  destination: {namespace: web}
`
	created, err := apps.Create(ctx, application(t, valid), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a valid Application was refused: %v", err)
	}
	for path, want := range map[string]any{
		"spec.sync.interval":       "3m",
		"spec.sync.automated":      true,
		"spec.sync.timeout":        "5m",
		"spec.destination.cluster": "in-cluster",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(created.Object, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s defaulted to %v, want %v", path, got, want)
		}
	}

	cases := []struct{ name, spec, want string }{
		{"two refs", `  source: {git: {url: "https://h/r.git", ref: {branch: main, tag: v1}}}
  destination: {namespace: web}
`, "set at most one of branch, tag, semver and commit"},
		{"plain http", `  source: {git: {url: "http://h/r.git"}}
  destination: {namespace: web}
`, "spec.source.git.url"},
		{"path escapes", `  source: {git: {url: "https://h/r.git"}, path: "../other"}
  destination: {namespace: web}
`, "path must be relative to the repository root"},
		{"absolute path", `  source: {git: {url: "https://h/r.git"}, path: "/etc"}
  destination: {namespace: web}
`, "path must be relative to the repository root"},
		{"short commit", `  source: {git: {url: "https://h/r.git", ref: {commit: abc}}}
  destination: {namespace: web}
`, "spec.source.git.ref.commit"},
		{"no namespace", `  source: {git: {url: "https://h/r.git"}}
  destination: {}
`, "spec.destination.namespace: Required value"},
		{"bad namespace", `  source: {git: {url: "https://h/r.git"}}
  destination: {namespace: "Not_A_Name"}
`, "spec.destination.namespace"},
		{"remote cluster", `  source: {git: {url: "https://h/r.git"}}
  destination: {namespace: web, cluster: prod-eu}
`, `spec.destination.cluster: Unsupported value: "prod-eu"`},
		{"no source", `  destination: {namespace: web}
`, "spec.source: Required value"},
		{"interval below the floor", `  source: {git: {url: "https://h/r.git"}}
  destination: {namespace: web}
  sync: {interval: 1s}
`, "interval must be at least 10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := application(t, tc.spec)
			obj.SetName("bad-" + strings.ReplaceAll(tc.name, " ", "-"))
			_, err := apps.Create(ctx, obj, metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

var projects = schema.GroupVersionResource{Group: "lockstep.dev", Version: "v1alpha1", Resource: "projects"}

func project(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	doc := "apiVersion: lockstep.dev/v1alpha1\nkind: Project\nmetadata: {name: " + name + "}\nspec:\n" + spec
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// A Project is cluster-scoped, defaults what it may, and refuses what could
// never be enforced.
func TestProjectSchemaDefaultsAndValidates(t *testing.T) {
	ctx := testenv.Context(t)
	if err := crd.Install(ctx, testenv.Config(t)); err != nil {
		t.Fatal(err)
	}
	api := dynamic.NewForConfigOrDie(testenv.Config(t)).Resource(projects)
	suffix := strings.ToLower(testenv.Namespace(t))
	created, err := api.Create(ctx, project(t, "valid-"+suffix, `  sourceNamespaces: [team-a]
  sourceRepos: ["https://git.internal/team-a/**"]
  destinations: [{namespace: "team-a-*"}]
  clusterResources: {allow: [{group: "", kind: Namespace}]}
  namespacedResources: {deny: [{group: rbac.authorization.k8s.io, kind: RoleBinding}]}
  serviceAccountName: deployer
  verification: {keysFrom: [{name: merge-keys}]}
  approvals: {required: 2, keysFrom: [{name: merge-key}]}
  images: {registries: [registry.internal], requireDigest: true}
  secrets: {refusePlain: true}
`), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a valid Project was refused: %v", err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), created.GetName(), metav1.DeleteOptions{}) })
	if created.GetNamespace() != "" {
		t.Errorf("a Project has namespace %q; Projects are cluster-scoped", created.GetNamespace())
	}
	for path, want := range map[string]any{
		"spec.verification.mode": "HEAD",
		"spec.approvals.trailer": "Approved-by",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(created.Object, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s defaulted to %v, want %v", path, got, want)
		}
	}
	if kind, _, _ := unstructured.NestedSlice(created.Object, "spec", "verification", "keysFrom"); kind[0].(map[string]any)["kind"] != "Secret" {
		t.Errorf("keysFrom[0].kind defaulted to %v, want Secret", kind[0])
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"no approvals", "  approvals: {required: 0, keysFrom: [{name: k}]}\n", "spec.approvals.required"},
		{"too many approvals", "  approvals: {required: 11, keysFrom: [{name: k}]}\n", "spec.approvals.required"},
		{"bad trailer", "  approvals: {required: 1, trailer: \"Approved by\", keysFrom: [{name: k}]}\n", "spec.approvals.trailer"},
		{"approvals without their own keys", "  approvals: {required: 1}\n", "spec.approvals.keysFrom"},
		{"approvals with no keys", "  approvals: {required: 1, keysFrom: []}\n", "spec.approvals.keysFrom"},
		{"verification without keys", "  verification: {mode: HEAD}\n", "spec.verification.keysFrom"},
		{"bad mode", "  verification: {mode: Branch, keysFrom: [{name: k}]}\n", "spec.verification.mode"},
		{"bad key kind", "  verification: {keysFrom: [{kind: Pod, name: k}]}\n", "spec.verification.keysFrom[0].kind"},
		{"no registries", "  images: {registries: []}\n", "spec.images.registries"},
		{"destination without namespace", "  destinations: [{cluster: in-cluster}]\n", "spec.destinations[0].namespace"},
		{"too many repos", "  sourceRepos: [" + strings.Repeat(`"r",`, 256) + `"r"]` + "\n", "spec.sourceRepos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.Create(ctx, project(t, "bad-"+suffix+"-"+strings.ReplaceAll(tc.name, " ", "-"), tc.spec), metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
