package sandbox_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

// listener counts every connection made to it; it answers like a server
// that has what was asked for, so a render that reaches it would succeed.
type listener struct {
	url      string
	conns    atomic.Int64 // new connections
	requests atomic.Int64 // requests, on new or reused connections
}

func (l *listener) reached() int64 { return l.conns.Load() + l.requests.Load() }

func startListener(t *testing.T) *listener {
	t.Helper()
	l := &listener{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, ".json"):
			fmt.Fprint(w, `{"type":"object"}`)
		default:
			fmt.Fprint(w, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\n")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			l.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\ndata:\n  a: b\n"

// hostileCase is a repository whose render would reach past the tree through
// one field.
type hostileCase struct {
	name  string
	field string // the Kustomize field (Go name) it goes through, "" for others
	dir   string
	files map[string]string
	// mayRender is set where the library itself keeps to the tree (Helm's
	// .Files): the render may succeed, as long as nothing leaks.
	mayRender bool
}

// hostileCases builds one repository per field kind that can carry a path or
// a URL: every path-carrying field of Kustomization (enumerated from its
// type by TestEveryKustomizePathFieldHasAHostileCase), the built-in
// transformer and generator configurations that carry paths, Helm's values
// schema references, and Jsonnet imports. url is the listener; secretFile a
// file outside the tree.
func hostileCases(url, secretFile string) []hostileCase {
	k := func(name, field, body string, extra ...string) hostileCase {
		files := map[string]string{"app/kustomization.yaml": body, "app/cm.yaml": configMap}
		for i := 0; i+1 < len(extra); i += 2 {
			files[extra[i]] = extra[i+1]
		}
		return hostileCase{name: name, field: field, dir: "app", files: files}
	}
	target := "target: {version: v1, kind: ConfigMap, name: local}\n"
	cases := []hostileCase{
		k("resources", "Resources", "resources: ["+url+"/r.yaml]\n"),
		k("bases", "Bases", "bases: ["+url+"/b]\n"),
		k("components", "Components", "resources: [cm.yaml]\ncomponents: ["+url+"/c]\n"),
		k("crds", "Crds", "resources: [cm.yaml]\ncrds: ["+url+"/crd.yaml]\n"),
		k("patchesStrategicMerge", "PatchesStrategicMerge", "resources: [cm.yaml]\npatchesStrategicMerge: ["+url+"/p.yaml]\n"),
		k("patchesJson6902", "PatchesJson6902", "resources: [cm.yaml]\npatchesJson6902:\n- "+target+"  path: "+url+"/p.yaml\n"),
		k("patches", "Patches", "resources: [cm.yaml]\npatches:\n- path: "+url+"/p.yaml\n"),
		k("replacements", "Replacements", "resources: [cm.yaml]\nreplacements:\n- path: "+url+"/r.yaml\n"),
		k("configMapGenerator files", "ConfigMapGenerator", "configMapGenerator:\n- name: g\n  files: ["+url+"/f]\n"),
		k("configMapGenerator envs", "ConfigMapGenerator", "configMapGenerator:\n- name: g\n  envs: ["+url+"/e.env]\n"),
		k("secretGenerator files", "SecretGenerator", "secretGenerator:\n- name: g\n  files: [key="+url+"/f]\n"),
		k("generators", "Generators", "generators: ["+url+"/g.yaml]\n"),
		k("transformers", "Transformers", "resources: [cm.yaml]\ntransformers: ["+url+"/t.yaml]\n"),
		k("validators", "Validators", "resources: [cm.yaml]\nvalidators: ["+url+"/v.yaml]\n"),
		k("configurations", "Configurations", "resources: [cm.yaml]\nconfigurations: ["+url+"/c.yaml]\n"),
		k("openapi", "OpenAPI", "resources: [cm.yaml]\nopenapi:\n  path: "+url+"/o.json\n"),
		k("helmCharts", "HelmCharts", "helmCharts:\n- name: c\n  repo: "+url+"/charts\n  version: 1.0.0\n"),
		k("helmGlobals", "HelmGlobals", "helmGlobals:\n  chartHome: "+url+"/charts\nhelmCharts:\n- name: c\n"),
		k("helmChartInflationGenerator", "HelmChartInflationGenerator", "helmChartInflationGenerator:\n- chartName: c\n  chartRepoUrl: "+url+"/charts\n"),
		k("absolute resource", "Resources", "resources: ["+secretFile+"]\n"),
		// Built-in plugin configurations named by transformers: and generators:.
		k("PatchTransformer path", "Transformers", "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
			"app/t.yaml", "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: t}\npath: "+url+"/p.yaml\n"+target),
		k("PatchJson6902Transformer path", "Transformers", "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
			"app/t.yaml", "apiVersion: builtin\nkind: PatchJson6902Transformer\nmetadata: {name: t}\npath: "+url+"/p.yaml\n"+target),
		k("PatchStrategicMergeTransformer paths", "Transformers", "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
			"app/t.yaml", "apiVersion: builtin\nkind: PatchStrategicMergeTransformer\nmetadata: {name: t}\npaths: ["+url+"/p.yaml]\n"),
		k("ReplacementTransformer path", "Transformers", "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
			"app/t.yaml", "apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: t}\nreplacements:\n- path: "+url+"/r.yaml\n"),
		k("ReplacementTransformer host file", "Transformers", "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
			"app/t.yaml", "apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: t}\nreplacements:\n- path: "+secretFile+"\n"),
		k("ConfigMapGenerator files", "Generators", "generators: [g.yaml]\n",
			"app/g.yaml", "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: ["+url+"/f]\n"),
		k("ConfigMapGenerator host file", "Generators", "generators: [g.yaml]\n",
			"app/g.yaml", "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: ["+secretFile+"]\n"),
		k("SecretGenerator envs", "Generators", "generators: [g.yaml]\n",
			"app/g.yaml", "apiVersion: builtin\nkind: SecretGenerator\nmetadata: {name: g}\nenvs: ["+url+"/e.env]\n"),
		k("HelmChartInflationGenerator repo", "Generators", "generators: [g.yaml]\n",
			"app/g.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: g}\nname: c\nrepo: "+url+"/charts\n"),
	}
	chart := func(name string, files ...string) hostileCase {
		c := hostileCase{name: name, dir: "chart", files: map[string]string{
			"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
			"chart/values.yaml":       "a: b\n",
			"chart/templates/cm.yaml": configMap,
		}}
		for i := 0; i+1 < len(files); i += 2 {
			c.files[files[i]] = files[i+1]
		}
		return c
	}
	cases = append(cases,
		chart("values schema $ref URL", "chart/values.schema.json", `{"$ref": "`+url+`/s.json"}`),
		chart("values schema $ref escaped URL", "chart/values.schema.json", `{"$ref": "`+strings.ReplaceAll(url, "/", `\/`)+`\/s.json"}`),
		chart("values schema $ref host file", "chart/values.schema.json", `{"$ref": "`+secretFile+`"}`),
		chart("values schema $ref file URL", "chart/values.schema.json", `{"$ref": "file://`+secretFile+`"}`),
		chart("values schema nested $ref", "chart/values.schema.json", `{"properties": {"a": {"$ref": "`+url+`/s.json"}}}`),
		chart("dependency repository", "chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: d\n  version: 1.0.0\n  repository: "+url+"/charts\n"),
		mayRender(chart("Files.Get outside", "chart/templates/leak.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\ndata:\n  x: {{ .Files.Get \""+secretFile+"\" | quote }}\n  y: {{ .Files.Get \"../../../../../../"+secretFile+"\" | quote }}\n")),
		hostileCase{name: "jsonnet import URL", dir: "j", files: map[string]string{"j/main.jsonnet": `import "` + url + `/x.libsonnet"`}},
		hostileCase{name: "jsonnet importstr host file", dir: "j", files: map[string]string{"j/main.jsonnet": `{apiVersion: "v1", kind: "ConfigMap", metadata: {name: "x"}, data: {x: importstr "` + secretFile + `"}}`}},
	)
	return cases
}

func mayRender(c hostileCase) hostileCase {
	c.mayRender = true
	return c
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

var hostileOptions = render.Options{Namespace: "ns", Helm: render.HelmOptions{ReleaseName: "r", KubeVersion: "v1.34.0"}}

const hostSecret = "host-file-content-7d3f"

// No render reaches the network or a file outside the tree, whatever field it
// names a URL or path in: each hostile repository fails, the listener sees no
// connection, and nothing of the host file appears in the output or error.
// Rendered in the controller's process instead, some of them connect (logged,
// for the record of what the sandbox closes).
func TestNoRenderReachesTheNetworkOrHostFiles(t *testing.T) {
	l := startListener(t)
	secretFile := filepath.Join(t.TempDir(), "controller-secret")
	if err := os.WriteFile(secretFile, []byte(hostSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, sandbox.Options{Processes: 2, Timeout: 20 * time.Second})
	var inProcess []string
	for _, c := range hostileCases(l.url, secretFile) {
		t.Run(c.name, func(t *testing.T) {
			fsys := mapFS(c.files)
			before := l.reached()
			res, err := pool.Render(t.Context(), fsys, c.dir, withTenant(hostileOptions, "ns/"+c.name))
			if n := l.reached() - before; n != 0 {
				t.Errorf("the sandboxed render reached the listener (%d connections and requests)", n)
			}
			if err != nil && strings.Contains(err.Error(), hostSecret[:8]) {
				t.Errorf("the error quotes the host file: %v", err)
			}
			if err == nil {
				for _, o := range res.Objects {
					data, _ := o.MarshalJSON()
					if strings.Contains(string(data), hostSecret[:8]) || o.GetName() == "remote" {
						t.Errorf("the render read past the tree: %s", data)
					}
				}
				if !c.mayRender {
					t.Fatalf("rendered %d objects, want a failure", len(res.Objects))
				}
			}
			t.Logf("sandboxed: %v", err)

			before = l.reached()
			res, err = engine.Render(t.Context(), fsys, c.dir, hostileOptions)
			read := err == nil && strings.Contains(fmt.Sprint(res.Objects), hostSecret[:8]) ||
				err != nil && strings.Contains(err.Error(), "invalid character 'h'") // parsed the host file
			if l.reached() > before || read {
				inProcess = append(inProcess, c.name)
			}
		})
	}
	sort.Strings(inProcess)
	t.Logf("in the controller's process, these reached past the tree: %s", strings.Join(inProcess, ", "))
}

// The hostile cases cover every field of a Kustomization that can carry a
// path or URL, enumerated from the type: a field Kustomize adds gets noticed.
func TestEveryKustomizePathFieldHasAHostileCase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range hostileCases("http://x", "/x") {
		covered[c.field] = true
	}
	fields := pathFields(reflect.TypeFor[types.Kustomization](), "", map[reflect.Type]bool{})
	for _, want := range []string{"Resources", "PatchesJson6902.Path", "HelmCharts.Repo", "ConfigMapGenerator.FileSources"} {
		if !slices.Contains(fields, want) {
			t.Errorf("the enumeration of path fields misses %s: %v", want, fields)
		}
	}
	for _, f := range fields {
		top, _, _ := strings.Cut(f, ".")
		if !covered[top] {
			t.Errorf("Kustomization field %s can carry a path, and no hostile case goes through %s", f, top)
		}
	}
}

// pathLike are the names of string fields that hold a path, a URL or a list
// of them in Kustomize's types.
var pathLike = regexp.MustCompile(`(?i)(path|file|source|resource|component|crd|base|generator|transformer|validator|configuration|repo|home|url|envs?$)`)

// fieldPaths name paths within objects (metadata/labels), not files.
var fieldPaths = map[string]bool{"FieldSpec.Path": true, "FieldRef.FieldPath": true, "FieldSelector.FieldPath": true,
	"SourceSelector.FieldPath": true, "TargetSelector.FieldPaths": true}

// pathFields lists, as dotted Go names, the string and []string fields of t
// (recursively) whose names say they hold a path or a URL.
func pathFields(t reflect.Type, prefix string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := prefix + f.Name
		if f.Anonymous {
			name = strings.TrimSuffix(prefix, ".")
		}
		elem := f.Type
		for elem.Kind() == reflect.Pointer || elem.Kind() == reflect.Slice || elem.Kind() == reflect.Map {
			elem = elem.Elem()
		}
		if elem.Kind() == reflect.String && pathLike.MatchString(f.Name) && !fieldPaths[t.Name()+"."+f.Name] {
			out = append(out, name)
		}
		next := name + "."
		if f.Anonymous {
			next = prefix
		}
		out = append(out, pathFields(f.Type, next, seen)...)
	}
	return out
}
