package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chartpkg "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderHelm renders the chart in dir as `helm template` would: values.yaml, then
// the values files, then the further values, merged in order; the destination's
// Kubernetes version as .Capabilities.KubeVersion; CRDs from crds/ included.
// Nothing is fetched: dependencies must be vendored under charts/, and a values
// schema that refers to a remote schema is refused. Hooks (and chart tests) are
// left out for now: they are not part of the release manifest.
func renderHelm(ctx context.Context, r *reader, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	files, err := chartFiles(ctx, r, dir)
	if err != nil {
		return nil, err
	}
	chart, err := loader.LoadFiles(files)
	if err != nil {
		return nil, &Error{File: path.Join(dir, "Chart.yaml"), Err: fmt.Errorf("loading the chart: %w", err)}
	}
	if err := checkChart(chart, dir); err != nil {
		return nil, err
	}
	values := map[string]any{}
	for _, f := range opts.Helm.ValuesFiles {
		name := path.Join(dir, f)
		if !strings.HasPrefix(name, dir+"/") {
			return nil, &Error{File: name, Err: errors.New("values file must be inside the chart folder")}
		}
		data, err := r.readFile(name)
		if err != nil {
			return nil, err
		}
		v, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("invalid values: %w", err)}
		}
		values = loader.MergeMaps(values, v)
	}
	for _, v := range opts.Helm.Values {
		values = loader.MergeMaps(values, v)
	}

	install := action.NewInstall(action.NewConfiguration()) // no cluster: a client-only dry run
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName = opts.Helm.ReleaseName
	install.Namespace = opts.Namespace
	install.IncludeCRDs = true
	if opts.Helm.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(opts.Helm.KubeVersion)
		if err != nil {
			return nil, &Error{File: dir, Err: err}
		}
		install.KubeVersion = kv
	}
	rel, err := install.RunWithContext(ctx, chart, values)
	if err != nil {
		return nil, &Error{File: dir, Err: fmt.Errorf("helm: %w", err)}
	}
	release, ok := rel.(*releasev1.Release)
	if !ok {
		return nil, &Error{File: dir, Err: fmt.Errorf("helm returned an unexpected release type %T", rel)}
	}
	return decodeHelmManifest(r, dir, release.Manifest)
}

// decodeHelmManifest decodes Helm's output document by document, attributing
// each object to the template its "# Source:" comment names.
func decodeHelmManifest(r *reader, dir, manifest string) ([]*unstructured.Unstructured, error) {
	docs, serr := splitDocuments([]byte(manifest))
	if serr != nil {
		return nil, &Error{File: dir + " (rendered by Helm)", Line: serr.line, Err: serr}
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		file := dir
		if m := helmSource.FindSubmatch(doc.data); m != nil {
			// "chart/templates/x.yaml": the chart's own name comes first.
			if _, rest, ok := strings.Cut(string(m[1]), "/"); ok {
				file = path.Join(dir, rest)
			}
		}
		found, err := decodeManifests(file+" (rendered by Helm)", doc.data)
		if err != nil {
			return nil, err
		}
		r.place(found, file)
		objs = append(objs, found...)
	}
	return objs, nil
}

// helmSource is the comment Helm writes above each rendered template.
var helmSource = regexp.MustCompile(`(?m)^# Source: (\S+)\s*$`)

// chartFiles reads the chart folder, honouring .helmignore.
func chartFiles(ctx context.Context, r *reader, dir string) ([]*archive.BufferedFile, error) {
	rules := ignore.Empty()
	// Read within the per-file limit like every file: it comes from Git.
	switch data, err := r.readFile(path.Join(dir, ".helmignore")); {
	case err == nil:
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, &Error{File: path.Join(dir, ".helmignore"), Err: err}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	rules.AddDefaults()
	var files []*archive.BufferedFile
	err := fs.WalkDir(r.fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return &Error{File: name, Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, dir), "/")
		if rel == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return &Error{File: name, Err: err}
		}
		if rules.Ignore(rel, fi) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		data, err := r.readFile(name) // refuses symbolic links
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: rel, Data: data})
		return nil
	})
	return files, err
}

// checkChart refuses what would make Helm reach outside: dependencies that are not
// vendored, and values schemas that refer to remote schemas.
func checkChart(c *chartv2.Chart, dir string) error {
	if c.Metadata != nil && len(c.Metadata.Dependencies) > 0 {
		deps := make([]chartpkg.Dependency, 0, len(c.Metadata.Dependencies))
		for _, d := range c.Metadata.Dependencies {
			deps = append(deps, d)
		}
		if err := action.CheckDependencies(c, deps); err != nil {
			return &Error{File: path.Join(dir, "Chart.yaml"), Err: fmt.Errorf("%w; vendor dependencies under charts/ (helm dependency build) and commit them: nothing is fetched", err)}
		}
	}
	var walk func(*chartv2.Chart, string) error
	walk = func(c *chartv2.Chart, where string) error {
		if bytes.Contains(c.Schema, []byte("://")) {
			return &Error{File: path.Join(where, "values.schema.json"), Err: errors.New("the values schema refers to a remote schema, which would be fetched; inline it")}
		}
		for _, sub := range c.Dependencies() {
			if err := walk(sub, path.Join(where, "charts", sub.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(c, dir)
}
