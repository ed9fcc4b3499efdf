package engine_test

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

func TestJsonnetWithImportsTLAsAndExtVars(t *testing.T) {
	fsys := fstest.MapFS{
		"lib/k.libsonnet": file(`{ configMap(name, data):: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: name }, data: data } }`),
		"app/main.jsonnet": file(`local k = import "../lib/k.libsonnet";
function(env) {
  settings: k.configMap("settings-" + env, { cluster: std.extVar("cluster") }),
  more: [k.configMap("a", {}), k.configMap("b", {})],
}`),
		"app/helper.libsonnet": file(`error "libsonnet files are not evaluated on their own"`),
	}
	opts := render.Options{Jsonnet: render.JsonnetOptions{TLAs: map[string]string{"env": "prod"}, ExtVars: map[string]string{"cluster": "eu-1"}}}
	res := renderOK(t, fsys, "app", opts)
	if res.Renderer != render.Jsonnet {
		t.Errorf("renderer = %s", res.Renderer)
	}
	if diff := cmp.Diff([]string{"ConfigMap/a", "ConfigMap/b", "ConfigMap/settings-prod"}, ids(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if c, _, _ := unstructured.NestedString(res.Objects[2].Object, "data", "cluster"); c != "eu-1" {
		t.Errorf("cluster = %q", c)
	}
}

func TestJsonnetRefusesEscapesAndNamesFiles(t *testing.T) {
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`import "../../etc/passwd"`)}, "app", render.Options{}, "leaves the repository")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`import "/etc/passwd"`)}, "app", render.Options{}, "absolute paths are refused")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`importstr "link"`), "app/link": &fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}},
		"app", render.Options{}, "symbolic link")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`{ a: }`)}, "app", render.Options{}, "app/main.jsonnet: jsonnet")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`"just a string"`)}, "app", render.Options{}, "evaluates to string")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`function(env) {}`)}, "app", render.Options{}, "app/main.jsonnet")
	renderErr(t, fstest.MapFS{"app/main.jsonnet": file(`local f(n) = f(n + 1); f(0)`)}, "app", render.Options{}, "app/main.jsonnet")
}
