package engine_test

import (
	"encoding/json"
	"io/fs"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/examples"
	render "github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

func webapp(t *testing.T) fs.FS {
	t.Helper()
	sub, err := fs.Sub(examples.WebApp, "webapp")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// kubectlKustomize renders a folder of this checkout with the kustomize built into
// kubectl (the one built with the test control plane): the reference output.
func kubectlKustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bins, err := kubebin.Ensure(t.Context(), kubebin.Options{})
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), bins.Path(kubebin.Kubectl), "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// byIdentity indexes objects, with values normalised through JSON so that number
// types do not depend on the decoder.
func byIdentity(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, o := range objs {
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		m[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = v
	}
	return m
}

func TestKustomizeOverlaysRenderLikeKustomizeBuild(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	exampleDir := filepath.Join(filepath.Dir(here), "..", "..", "..", "examples", "webapp")
	for _, env := range []string{"dev", "stage", "prod"} {
		t.Run(env, func(t *testing.T) {
			res := renderOK(t, webapp(t), "overlays/"+env, render.Options{})
			if res.Renderer != render.Kustomize {
				t.Errorf("renderer = %s, want Kustomize", res.Renderer)
			}
			want := kubectlKustomize(t, filepath.Join(exampleDir, "overlays", env))
			if diff := cmp.Diff(byIdentity(t, want), byIdentity(t, res.Objects)); diff != "" {
				t.Errorf("render differs from kubectl kustomize (-want +got):\n%s", diff)
			}
			for _, o := range res.Objects {
				if o.GetNamespace() != "webapp-"+env {
					t.Errorf("%s/%s in namespace %q, want webapp-%s", o.GetKind(), o.GetName(), o.GetNamespace(), env)
				}
			}
		})
	}
}

func TestKustomizeRefusesAnythingRemote(t *testing.T) {
	base := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
	cases := []struct{ name, kustomization string }{
		{"https base", "resources: [https://github.com/org/repo//base?ref=v1]"},
		{"github shorthand", "resources: [github.com/org/repo/base]"},
		{"git:: base", "resources: ['git::https://git.example.com/org/repo.git//base']"},
		{"scp-style", "resources: ['git@github.com:org/repo.git']"},
		{"a folder outside the repository", "resources: [../../../etc]"},
		{"a missing folder", "resources: [nowhere]"},
		{"remote component", "components: [https://example.com/c]"},
		{"remote patch", "resources: [cm.yaml]\npatches: [{path: 'https://example.com/p.yaml'}]"},
		{"remote generator file", "configMapGenerator: [{name: c, files: ['key=https://example.com/f']}]"},
		{"helm chart", "helmCharts: [{name: redis, repo: 'https://charts.example.com'}]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"app/kustomization.yaml": file(tc.kustomization), "app/cm.yaml": file(base)}
			_, err := render.Render(t.Context(), fsys, "app", render.Options{})
			if err == nil || !strings.Contains(err.Error(), "app/kustomization.yaml") {
				t.Errorf("err = %v, want a refusal naming app/kustomization.yaml", err)
			}
		})
	}
	// Nested: the remote reference sits in a base the overlay uses.
	nested := fstest.MapFS{
		"overlay/kustomization.yaml": file("resources: [../base]"),
		"base/kustomization.yaml":    file("resources: [https://example.com/x.yaml]"),
	}
	renderErr(t, nested, "overlay", render.Options{}, "base/kustomization.yaml")
	// A literal URL as a value is data, not a reference.
	literal := fstest.MapFS{"app/kustomization.yaml": file("configMapGenerator: [{name: c, literals: ['URL=https://example.com']}]")}
	if res := renderOK(t, literal, "app", render.Options{}); len(res.Objects) != 1 {
		t.Errorf("a literal URL: %d objects, want 1", len(res.Objects))
	}
}

func TestKustomizeErrorsNameTheFile(t *testing.T) {
	renderErr(t, fstest.MapFS{"app/kustomization.yaml": file("resources: [\n")}, "app", render.Options{}, "app/kustomization.yaml: invalid kustomization")
	renderErr(t, fstest.MapFS{"app/kustomization.yaml": file("resources: [cm.yaml]"), "app/cm.yaml": file("kind: [")}, "app", render.Options{}, "app: kustomize")
}
