package engine_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

// trapFetches makes any attempt to fetch from outside visible: `git` on PATH
// is a script that leaves a mark, and HTTP(S) goes through a proxy that counts
// requests. fetched reports whether either was used.
func trapFetches(f *testing.F) (fetched func() bool) {
	dir := f.TempDir()
	mark := filepath.Join(dir, "git-ran")
	script := "#!/bin/sh\necho \"$@\" >> '" + mark + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "git"), []byte(script), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var requests atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "fetching is forbidden in this test", http.StatusForbidden)
	}))
	f.Cleanup(proxy.Close)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		f.Setenv(k, proxy.URL)
	}
	f.Setenv("NO_PROXY", "")
	f.Setenv("no_proxy", "")
	return func() bool {
		_, err := os.Stat(mark)
		return err == nil || requests.Load() > 0
	}
}

// FuzzKustomize feeds a kustomization file to a render of a folder that also
// holds a manifest, an env file and a local base. Beyond checkRendered: nothing
// is ever fetched from outside the repository (no git, no HTTP), whatever the
// kustomization names.
func FuzzKustomize(f *testing.F) {
	f.Add([]byte("resources:\n- deploy.yaml\n- ../base\nnamespace: prod\n"))
	f.Add([]byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deploy.yaml]\nnamePrefix: prod-\ncommonLabels: {team: web}\nimages:\n- name: web\n  newTag: \"2\"\n"))
	f.Add([]byte("resources: [deploy.yaml]\nconfigMapGenerator:\n- name: settings\n  envs: [settings.env]\n  literals: [a=b]\nsecretGenerator:\n- name: s\n  files: [key=settings.env]\n"))
	f.Add([]byte("resources: [deploy.yaml]\npatches:\n- target: {kind: Deployment}\n  patch: |\n    - op: replace\n      path: /spec/replicas\n      value: 3\n"))
	f.Add([]byte("resources: [deploy.yaml]\npatchesStrategicMerge:\n- |\n  apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n  spec: {replicas: 5}\n"))
	f.Add([]byte("resources:\n- https://github.com/example/repo//base?ref=v1\n"))
	f.Add([]byte("resources:\n- github.com/example/repo/base\n"))
	f.Add([]byte("components: [../base]\ncrds: [deploy.yaml]\nreplacements:\n- path: r.yaml\n"))
	f.Add([]byte("buildMetadata: [originAnnotations]\nresources: [deploy.yaml]\n"))
	fetched := trapFetches(f)
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers: [{name: web, image: web:1}]\n"
	f.Fuzz(func(t *testing.T, kustomization []byte) {
		fsys := fstest.MapFS{
			"app/kustomization.yaml":  {Data: kustomization},
			"app/deploy.yaml":         {Data: []byte(deploy)},
			"app/settings.env":        {Data: []byte("LOG=debug\n")},
			"base/kustomization.yaml": {Data: []byte("resources: [svc.yaml]\n")},
			"base/svc.yaml":           {Data: []byte("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")},
		}
		res, err := render.Render(t.Context(), fsys, "app", render.Options{Limits: fuzzLimits})
		if fetched() {
			t.Fatalf("the render tried to fetch from outside the repository (err: %v)", err)
		}
		checkRendered(t, res, err, fuzzLimits)
	})
}
