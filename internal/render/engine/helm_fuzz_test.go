package engine_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

// renderWithin renders with a deadline on the context and fails the test when
// Render has not returned a grace period after it: a template or program that
// runs on regardless of its context is a finding, not something to wait for.
func renderWithin(t *testing.T, fsys fs.FS, dir string, opts render.Options, d time.Duration) (*render.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	type result struct {
		res *render.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := render.Render(ctx, fsys, dir, opts)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		if ctx.Err() != nil {
			t.Fatalf("Render needed more than %s (the deadline ended it: %v)", d, r.err)
		}
		return r.res, r.err
	case <-time.After(2 * d):
		t.Fatalf("Render still running %s after a deadline of %s: the evaluation is not bounded", 2*d, d)
	}
	return nil, nil
}

// fuzzDeadline bounds one render of a fuzz input; real inputs take milliseconds.
const fuzzDeadline = 10 * time.Second

// FuzzHelm feeds a chart's Chart.yaml, values.yaml and one template to a Helm
// render. Beyond checkRendered: a render ends within fuzzDeadline.
func FuzzHelm(f *testing.F) {
	const chartYAML = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n"
	f.Add([]byte(chartYAML), []byte("replicas: 2\nimage: {repository: registry.internal/web, tag: \"1\"}\n"),
		[]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels: {{- include \"web.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: web\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"))
	f.Add([]byte(chartYAML), []byte("items: [a, b]\n"),
		[]byte("{{- range .Values.items }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ . }}}\ndata: {kube: {{ $.Capabilities.KubeVersion.Version | quote }}}\n{{- end }}\n"))
	f.Add([]byte("apiVersion: v1\nname: old\nversion: 1.0.0\n"), []byte(""), []byte("{{ fail \"no\" }}"))
	f.Add([]byte("apiVersion: v2\nname: dep\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n"), []byte(""), []byte(""))
	f.Add([]byte(chartYAML), []byte("a: {b: {c: 1}}\n"), []byte("{{ toYaml .Values }}\n# Source: web/templates/other.yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"))
	helpers := []byte("{{- define \"web.labels\" -}}\napp: {{ .Chart.Name }}\n{{- end }}\n")
	f.Fuzz(func(t *testing.T, chartFile, values, template []byte) {
		fsys := fstest.MapFS{
			"web/Chart.yaml":             {Data: chartFile},
			"web/values.yaml":            {Data: values},
			"web/templates/fuzz.yaml":    {Data: template},
			"web/templates/_helpers.tpl": {Data: helpers},
		}
		opts := render.Options{Namespace: "prod", Limits: fuzzLimits,
			Helm: render.HelmOptions{ReleaseName: "web", KubeVersion: "v1.34.3"}}
		res, err := renderWithin(t, fsys, "web", opts, fuzzDeadline)
		checkRendered(t, res, err, fuzzLimits)
	})
}
