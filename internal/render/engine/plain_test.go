package engine_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		s := o.GetKind() + "/" + o.GetName()
		if o.GetNamespace() != "" {
			s = o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		}
		out = append(out, s)
	}
	return out
}

func renderOK(t *testing.T, fsys fs.FS, dir string, opts render.Options) *render.Result {
	t.Helper()
	res, err := render.Render(t.Context(), fsys, dir, opts)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return res
}

func renderErr(t *testing.T, fsys fs.FS, dir string, opts render.Options, want string) error {
	t.Helper()
	_, err := render.Render(t.Context(), fsys, dir, opts)
	if err == nil {
		t.Fatalf("Render succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Render error %q, want it to contain %q", err, want)
	}
	return err
}

func TestPlainRendersEveryManifestInOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"app/deploy.yaml": file(`# leading comment
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
---
# only a comment
---
apiVersion: v1
kind: Service
metadata: {name: web}
`),
		"app/nested/cm.yml":   file("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: other\n"),
		"app/sa.json":         file(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"runner"}}`),
		"app/list.yaml":       file("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n"),
		"app/README.md":       file("# not a manifest"),
		"app/.github/ci.yaml": file("this: is not an object"),
		"app/.hidden.yaml":    file("nor: this"),
		"other/ignored.yaml":  file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: elsewhere}\n"),
		"app/crd/widget.yaml": file("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
	}
	res := renderOK(t, fsys, "app", render.Options{})
	if res.Renderer != render.Plain {
		t.Errorf("renderer = %s, want Plain", res.Renderer)
	}
	want := []string{"ConfigMap/other/settings", "Secret/a", "Secret/b", "Service/web", "ServiceAccount/runner", "Deployment/web", "Widget/w"}
	if diff := cmp.Diff(want, ids(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestPlainErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"bad indentation in the second document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n", "app/x.yaml:9: invalid YAML"},
		{"tab indentation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n", "app/x.yaml:4: invalid YAML"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "app/x.yaml:1: not a Kubernetes object"},
		{"no apiVersion", "---\nkind: ConfigMap\nmetadata: {name: a}\n", "app/x.yaml:2: object has no apiVersion"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\n", "app/x.yaml:1: ConfigMap has no metadata.name"},
		{"a scalar document", "just a string\n", "app/x.yaml:1: not a Kubernetes object"},
		{"a list document", "- a\n- b\n", "app/x.yaml:1: not a Kubernetes object"},
		{"content after a separator", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- {b: c}\n", "app/x.yaml:4: only a comment may follow"},
		{"error after empty documents", "---\n---\n# c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [unclosed\n", "app/x.yaml:8: invalid YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := renderErr(t, fstest.MapFS{"app/x.yaml": file(tc.content)}, "app", render.Options{}, tc.want)
			var re *render.Error
			if !errors.As(err, &re) || re.File != "app/x.yaml" {
				t.Errorf("error %v is not a *render.Error for app/x.yaml", err)
			}
		})
	}
}

func TestPlainRefusesDuplicatesSymlinksAndEscapes(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"
	renderErr(t, fstest.MapFS{"app/a.yaml": file(cm), "app/b.yaml": file(cm)}, "app", render.Options{},
		"app/b.yaml: ConfigMap/same is already defined in app/a.yaml")
	renderErr(t, fstest.MapFS{"app/link.yaml": &fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}}, "app", render.Options{},
		"app/link.yaml: is a symbolic link")
	for _, dir := range []string{"../outside", "app/../../outside", ".."} {
		renderErr(t, fstest.MapFS{"app/a.yaml": file(cm)}, dir, render.Options{}, "path leaves the repository")
	}
	renderErr(t, fstest.MapFS{"app/a.yaml": file(cm)}, "missing", render.Options{}, "missing: path not found")
	renderErr(t, fstest.MapFS{"app/a.yaml": file(cm)}, "app/a.yaml", render.Options{}, "path is not a folder")
	// A leading slash means the repository root, not the machine's.
	res := renderOK(t, fstest.MapFS{"app/a.yaml": file(cm)}, "/app", render.Options{})
	if len(res.Objects) != 1 {
		t.Errorf("rendering /app gave %d objects, want 1", len(res.Objects))
	}
}

func TestPlainEnforcesLimits(t *testing.T) {
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n---\n"
	}
	limits := render.Limits{MaxFileSize: 200, MaxTotalSize: 300, MaxObjects: 3}
	big := fstest.MapFS{"app/big.yaml": file(cm("a") + "# " + strings.Repeat("x", 300) + "\n")}
	err := renderErr(t, big, "app", render.Options{Limits: limits}, "app/big.yaml: file of")
	if !errors.Is(err, render.ErrLimit) {
		t.Errorf("oversized file: %v does not wrap ErrLimit", err)
	}
	pad := "# " + strings.Repeat("x", 100) + "\n"
	total := fstest.MapFS{"app/a.yaml": file(cm("a") + pad), "app/b.yaml": file(cm("b") + pad), "app/c.yaml": file(cm("c") + pad)}
	renderErr(t, total, "app", render.Options{Limits: limits}, "brings the total to")
	many := fstest.MapFS{"app/a.yaml": file(cm("a") + cm("b")), "app/b.yaml": file(cm("c") + cm("d"))}
	renderErr(t, many, "app", render.Options{Limits: render.Limits{MaxFileSize: 1000, MaxTotalSize: 1000, MaxObjects: 3}}, "rendered 4 objects")
}

// A "billion laughs" document must fail fast instead of expanding aliases into
// gigabytes.
func TestPlainRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+",", 8) + prev + "]\n")
	}
	renderErr(t, fstest.MapFS{"app/bomb.yaml": file(b.String())}, "app", render.Options{}, "app/bomb.yaml")
}

func TestSubstitution(t *testing.T) {
	fsys := fstest.MapFS{"app/cm.yaml": file(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-${ENV}
data:
  image: registry.internal/app:${TAG}
  literal: "$${TAG} stays"
  script: "echo $HOME ${ENV}"
  ${ENV}: keys are not substituted
`)}
	res := renderOK(t, fsys, "app", render.Options{Substitute: map[string]string{"ENV": "prod", "TAG": "1.2.3"}})
	o := res.Objects[0]
	if o.GetName() != "settings-prod" {
		t.Errorf("name = %q", o.GetName())
	}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	want := map[string]string{
		"image":   "registry.internal/app:1.2.3",
		"literal": "${TAG} stays",
		"script":  "echo $HOME prod",
		"${ENV}":  "keys are not substituted",
	}
	if diff := cmp.Diff(want, data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	renderErr(t, fsys, "app", render.Options{Substitute: map[string]string{"ENV": "prod"}},
		"ConfigMap/settings-prod: ${TAG} at data.image not defined in spec.source.substitute")
}

// Without spec.source.substitute a ${NAME} is text, as kubectl would apply
// it (a script in a ConfigMap, a CRD's description); with it, even empty,
// a name left undefined is an error.
func TestSubstitutionOnlyWhenAskedFor(t *testing.T) {
	fsys := fstest.MapFS{"app/cm.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: script}\ndata: {run.sh: 'echo ${HOME}'}\n")}}
	res := renderOK(t, fsys, "app", render.Options{})
	if got, _, _ := unstructured.NestedString(res.Objects[0].Object, "data", "run.sh"); got != "echo ${HOME}" {
		t.Errorf("without substitution: %q", got)
	}
	renderErr(t, fsys, "app", render.Options{Substitute: map[string]string{}}, "${HOME} at data.run.sh not defined in spec.source.substitute")
}
