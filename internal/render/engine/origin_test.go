package engine_test

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	stage "github.com/lockstep-dev/lockstep/internal/render"
	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

// Each object says which file it came from, so a policy denial can name it.
func TestOriginsNameTheFileOfEachObject(t *testing.T) {
	origins := func(res *render.Result) map[string]string {
		out := map[string]string{}
		for i, id := range ids(res.Objects) {
			out[id] = res.Origins[i].File
		}
		return out
	}
	plain := fstest.MapFS{
		"app/b.yaml":     file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n"),
		"app/sub/a.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
	}
	if diff := cmp.Diff(map[string]string{"ConfigMap/a": "app/sub/a.yaml", "ConfigMap/b": "app/b.yaml", "Secret/a": "app/b.yaml"},
		origins(renderOK(t, plain, "app", render.Options{}))); diff != "" {
		t.Errorf("plain (-want +got):\n%s", diff)
	}
	kustomize := fstest.MapFS{
		"k/kustomization.yaml":    file("resources: [cm.yaml, ../base]\nnamePrefix: p-\nconfigMapGenerator: [{name: gen, literals: [a=b]}]\n"),
		"k/cm.yaml":               file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k, annotations: {keep: me}}\n"),
		"base/kustomization.yaml": file("resources: [sa.yaml]\n"),
		"base/sa.yaml":            file("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n"),
	}
	res := renderOK(t, kustomize, "k", render.Options{})
	if diff := cmp.Diff(map[string]string{"ConfigMap/p-k": "k/cm.yaml", "ConfigMap/p-gen-4h2mbtbbt6": "k/kustomization.yaml", "ServiceAccount/p-b": "base/sa.yaml"},
		origins(res)); diff != "" {
		t.Errorf("kustomize (-want +got):\n%s", diff)
	}
	// The origin annotation Lockstep asked Kustomize for does not reach the cluster.
	for _, o := range res.Objects {
		if _, ok := o.GetAnnotations()["config.kubernetes.io/origin"]; ok {
			t.Errorf("%s keeps the origin annotation", o.GetName())
		}
		if o.GetName() == "p-k" && o.GetAnnotations()["keep"] != "me" {
			t.Errorf("p-k lost its own annotation: %v", o.GetAnnotations())
		}
	}
	helm := chart(fstest.MapFS{"c/templates/sa.yaml": file("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n")})
	if diff := cmp.Diff(map[string]string{"ConfigMap/web-cm": "c/templates/cm.yaml", "ServiceAccount/sa": "c/templates/sa.yaml"},
		origins(renderOK(t, helm, "c", helmOpts()))); diff != "" {
		t.Errorf("helm (-want +got):\n%s", diff)
	}
	jsonnet := fstest.MapFS{"j/main.jsonnet": file(`{apiVersion: "v1", kind: "ConfigMap", metadata: {name: "j"}}`)}
	if diff := cmp.Diff(map[string]string{"ConfigMap/j": "j/main.jsonnet"}, origins(renderOK(t, jsonnet, "j", render.Options{}))); diff != "" {
		t.Errorf("jsonnet (-want +got):\n%s", diff)
	}
}

// Inputs name every folder a render read, also outside the rendered one (a
// Kustomize base, a Jsonnet import), and no other: a webhook refreshes an
// Application only when a push touches one of them.
func TestInputsAreTheFoldersRead(t *testing.T) {
	repo := fstest.MapFS{
		"k/kustomization.yaml":     file("resources: [cm.yaml, ../base]\n"),
		"k/cm.yaml":                file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\n"),
		"base/kustomization.yaml":  file("resources: [sa.yaml]\n"),
		"base/sa.yaml":             file("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n"),
		"other/cm.yaml":            file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: o}\n"),
		"p/a.yaml":                 file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
		"p/sub/b.yaml":             file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"),
		"j/main.jsonnet":           file(`(import "../lib/cm.libsonnet") + {metadata: {name: "j"}}`),
		"lib/cm.libsonnet":         file(`{apiVersion: "v1", kind: "ConfigMap"}`),
		"lib/unused/other.jsonnet": file(`{}`),
	}
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"k", []string{"base", "k"}},
		{"p", []string{"p", "p/sub"}},
		{"j", []string{"j", "lib"}},
	} {
		res := renderOK(t, repo, tc.dir, render.Options{})
		if diff := cmp.Diff(tc.want, res.Inputs); diff != "" {
			t.Errorf("%s: inputs (-want +got):\n%s", tc.dir, diff)
		}
	}
	// A cached result says the same.
	c := stage.NewCache(4, render.Render)
	for range 2 {
		res, err := c.Render(t.Context(), repo, "abc", "k", render.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"base", "k"}, res.Inputs); diff != "" {
			t.Errorf("cached inputs (-want +got):\n%s", diff)
		}
	}
}
