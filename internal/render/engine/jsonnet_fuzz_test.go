package engine_test

import (
	"testing"
	"testing/fstest"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

// FuzzJsonnet feeds a Jsonnet program, next to a library it may import, to a
// render with a top-level argument and an external variable. Beyond
// checkRendered: a render ends within fuzzDeadline.
func FuzzJsonnet(f *testing.F) {
	f.Add([]byte(`local k = import "k.libsonnet";
function(env) {
  settings: k.configMap("settings-" + env, { cluster: std.extVar("cluster") }),
  more: [k.configMap("a", {}), k.configMap("b", {})],
}`))
	f.Add([]byte(`[{ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } }]`))
	f.Add([]byte(`{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { n: std.toString(std.length(std.range(1, 10))) } }`))
	f.Add([]byte(`local f(n) = if n == 0 then [] else [f(n - 1)]; f(40)`))
	f.Add([]byte(`importstr "../../etc/passwd"`))
	f.Add([]byte(`{ a: { b: { kind: "ConfigMap" } } }`))
	f.Add([]byte(`std.parseJson(importstr "data.json")`))
	lib := []byte(`{ configMap(name, data):: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: name }, data: data } }`)
	data := []byte(`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}`)
	f.Fuzz(func(t *testing.T, program []byte) {
		fsys := fstest.MapFS{
			"app/main.jsonnet": {Data: program},
			"app/k.libsonnet":  {Data: lib},
			"app/data.json":    {Data: data},
		}
		opts := render.Options{Limits: fuzzLimits, Jsonnet: render.JsonnetOptions{
			TLAs: map[string]string{"env": "prod"}, ExtVars: map[string]string{"cluster": "eu-1"}}}
		res, err := renderWithin(t, fsys, "app", opts, fuzzDeadline)
		checkRendered(t, res, err, fuzzLimits)
	})
}
