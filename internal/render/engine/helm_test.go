package engine_test

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

func helmOpts() render.Options {
	return render.Options{Namespace: "team-a", Helm: render.HelmOptions{ReleaseName: "web", KubeVersion: "v1.34.3"}}
}

func TestHelmRendersTheExampleChart(t *testing.T) {
	opts := helmOpts()
	opts.Helm.Values = []map[string]any{{"replicaCount": 5}, {"greeting": "Hi from values"}}
	res := renderOK(t, webapp(t), "chart", opts)
	if res.Renderer != render.Helm {
		t.Fatalf("renderer = %s, want Helm", res.Renderer)
	}
	if diff := cmp.Diff([]string{"ConfigMap/web-config", "Service/web", "Deployment/web"}, ids(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	var deploy, cm *unstructured.Unstructured
	for _, o := range res.Objects {
		switch o.GetKind() {
		case "Deployment":
			deploy = o
		case "ConfigMap":
			cm = o
		}
	}
	if replicas, _, _ := unstructured.NestedInt64(deploy.Object, "spec", "replicas"); replicas != 5 {
		t.Errorf("replicas = %d, want 5 from the further values", replicas)
	}
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if img := containers[0].(map[string]any)["image"]; img != "registry.internal.example/webapp@sha256:4b4e1c2a3f0d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0" {
		t.Errorf("image = %v", img)
	}
	if g, _, _ := unstructured.NestedString(cm.Object, "data", "GREETING"); g != "Hi from values" {
		t.Errorf("GREETING = %q", g)
	}
}

func chart(extra fstest.MapFS) fstest.MapFS {
	fsys := fstest.MapFS{
		"c/Chart.yaml":  file("apiVersion: v2\nname: c\nversion: 0.1.0\n"),
		"c/values.yaml": file("level: info\n"),
		"c/templates/cm.yaml": file(`apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-cm}
data:
  level: {{ .Values.level | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  namespace: {{ .Release.Namespace | quote }}
`),
	}
	for k, v := range extra {
		fsys[k] = v
	}
	return fsys
}

func TestHelmValuesFilesCapabilitiesAndHooks(t *testing.T) {
	opts := helmOpts()
	opts.Helm.ValuesFiles = []string{"values-prod.yaml"}
	fsys := chart(fstest.MapFS{
		"c/values-prod.yaml":       file("level: warn\n"),
		"c/templates/test.yaml":    file("apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {helm.sh/hook: test}\nspec: {containers: [{name: c, image: x}]}\n"),
		"c/templates/NOTES.txt":    file("hello"),
		"c/.helmignore":            file("ignored/\n"),
		"c/ignored/broken.yaml":    file("{{ this is not a template"),
		"c/crds/widget-crd.yaml":   file("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced, versions: []}\n"),
		"c/templates/_helpers.tpl": file("{{- define \"x\" -}}x{{- end -}}"),
	})
	res := renderOK(t, fsys, "c", opts)
	if diff := cmp.Diff([]string{"ConfigMap/web-cm", "CustomResourceDefinition/widgets.example.com"}, ids(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got; the test hook stays out, the CRD comes in):\n%s", diff)
	}
	data, _, _ := unstructured.NestedStringMap(res.Objects[0].Object, "data")
	if diff := cmp.Diff(map[string]string{"level": "warn", "kube": "v1.34.3", "namespace": "team-a"}, data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}

func TestHelmRefusesWhatWouldBeFetchedAndNamesFiles(t *testing.T) {
	small := helmOpts() // a .helmignore over the per-file limit is refused like any file, not read whole
	small.Limits = render.Limits{MaxFileSize: 2 << 10, MaxTotalSize: 1 << 20, MaxObjects: 100}
	renderErr(t, chart(fstest.MapFS{"c/.helmignore": file(".helmignore\n" + strings.Repeat("ignored/\n", 1000))}), "c", small, "c/.helmignore: file of 9012 bytes is over the limit")
	renderErr(t, chart(fstest.MapFS{"c/Chart.yaml": file("apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n- {name: redis, version: 1.0.0, repository: 'https://charts.example.com'}\n")}),
		"c", helmOpts(), "c/Chart.yaml: found in Chart.yaml, but missing in charts/ directory: redis")
	renderErr(t, chart(fstest.MapFS{"c/values.schema.json": file(`{"$ref": "https://schemas.example.com/values.json"}`)}),
		"c", helmOpts(), "c/values.schema.json: the values schema refers to a remote schema")
	renderErr(t, chart(fstest.MapFS{"c/templates/bad.yaml": file("{{ .Values.nope.deeper }}")}),
		"c", helmOpts(), "bad.yaml")
	renderErr(t, chart(fstest.MapFS{"c/templates/link.yaml": &fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}}),
		"c", helmOpts(), "symbolic link")
	opts := helmOpts()
	opts.Helm.ValuesFiles = []string{"../../etc/values.yaml"}
	renderErr(t, chart(nil), "c", opts, "values file must be inside the chart folder")
	opts.Helm.ValuesFiles = []string{"missing.yaml"}
	renderErr(t, chart(nil), "c", opts, "c/missing.yaml")
	opts = helmOpts()
	opts.Helm.KubeVersion = "not a version"
	renderErr(t, chart(nil), "c", opts, "c:")
}
