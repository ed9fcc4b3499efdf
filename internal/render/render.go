// Package render turns a folder of a source snapshot into Kubernetes objects: plain
// YAML/JSON, Kustomize, Helm or Jsonnet, chosen by what the folder holds, followed by
// ${VAR} substitution. It is a pure stage: it reads only the fs.FS it is given
// (never the local disk, the network or the cluster) and returns objects in a
// deterministic order, or an error naming the file and line to fix.
package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Renderer names a way of rendering a folder.
type Renderer string

// Renderers, in the order detection tries them.
const (
	Kustomize Renderer = "Kustomize"
	Helm      Renderer = "Helm"
	Jsonnet   Renderer = "Jsonnet"
	Plain     Renderer = "Plain"
)

// Limits bound what a repository can make the renderer read.
type Limits struct {
	// MaxFileSize is the largest single file read, in bytes.
	MaxFileSize int64
	// MaxTotalSize is the most bytes read from all files together.
	MaxTotalSize int64
	// MaxObjects is the most objects one render may produce.
	MaxObjects int
}

// DefaultLimits are generous for configuration and small for anything else.
func DefaultLimits() Limits {
	return Limits{MaxFileSize: 4 << 20, MaxTotalSize: 64 << 20, MaxObjects: 10000}
}

// Options control Render.
type Options struct {
	// Namespace is the destination namespace: Helm's release namespace.
	Namespace string
	// Substitute replaces ${NAME} in string values of the rendered objects,
	// strictly (a name not listed is an error); nil: no substitution.
	Substitute map[string]string
	// Helm options, for a folder holding Chart.yaml.
	Helm HelmOptions
	// Jsonnet options, for a folder holding *.jsonnet.
	Jsonnet JsonnetOptions
	// Limits; DefaultLimits() when zero.
	Limits Limits
	// AgeIdentities decrypt SOPS-encrypted YAML and JSON files (AGE-SECRET-KEY-1...
	// lines). Secret: never log Options.
	AgeIdentities string
	// Tenant says who asked (an Application), for a renderer that schedules
	// renders fairly; it changes nothing in the result.
	Tenant string `json:"-"`
}

// Func renders the folder dir of fsys: Render, or Render elsewhere (in a
// sandbox process).
type Func func(ctx context.Context, fsys fs.FS, dir string, opts Options) (*Result, error)

// HelmOptions control chart rendering.
type HelmOptions struct {
	ReleaseName string
	// ValuesFiles are paths relative to the chart folder, merged after values.yaml.
	ValuesFiles []string
	// Values are further values documents (from ConfigMaps, Secrets, the inline
	// spec), merged in order after the values files.
	Values []map[string]any
	// KubeVersion is what .Capabilities.KubeVersion reports, e.g. v1.34.3.
	KubeVersion string
}

// JsonnetOptions control Jsonnet evaluation.
type JsonnetOptions struct {
	TLAs    map[string]string
	ExtVars map[string]string
}

// Result is what a render produced.
type Result struct {
	// Renderer that was used.
	Renderer Renderer
	// Objects in a deterministic order (group, kind, namespace, name).
	Objects []*unstructured.Unstructured
	// Origins[i] says where Objects[i] came from.
	Origins []Origin
	// Inputs are the folders the render read files from, slash-separated and
	// relative to the repository root ("." is the root): a commit that
	// changes nothing in them renders the same (webhooks skip such
	// Applications). They can lie outside the rendered folder (Kustomize
	// bases, Jsonnet imports).
	Inputs []string
	// Size is the objects' JSON size together, when the renderer knows it
	// (a sandbox process sends them as JSON); 0 otherwise.
	Size int64
}

// Origin is where a rendered object came from.
type Origin struct {
	// File is the manifest, template or jsonnet file, slash-separated and
	// relative to the repository root; for Kustomize, the kustomization file.
	File string
	// Encrypted is true when the file was SOPS-encrypted in Git.
	Encrypted bool
}

// Error is a render failure located in a file, and when known a line.
type Error struct {
	File string // slash-separated, relative to the repository root
	Line int    // 1-based; 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Err.Error()
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// ErrPathNotFound is wrapped when the folder to render is not in the snapshot.
var ErrPathNotFound = errors.New("path not found in the repository")

// ErrLimit is wrapped by errors about a file, a total or an object count over its limit.
var ErrLimit = errors.New("over the limit")

// Render renders the folder dir of fsys (the repository root). dir is cleaned and
// must stay inside fsys.
func Render(ctx context.Context, fsys fs.FS, dir string, opts Options) (*Result, error) {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	dir = path.Clean(strings.TrimPrefix(dir, "/"))
	if dir == ".." || strings.HasPrefix(dir, "../") || !fs.ValidPath(dir) {
		return nil, &Error{File: dir, Err: errors.New("path leaves the repository")}
	}
	if fi, err := fs.Stat(fsys, dir); err != nil {
		return nil, &Error{File: dir, Err: fmt.Errorf("%w: %w", ErrPathNotFound, err)}
	} else if !fi.IsDir() {
		return nil, &Error{File: dir, Err: errors.New("path is not a folder")}
	}
	r := &reader{fsys: fsys, limits: opts.Limits}
	if opts.AgeIdentities != "" {
		ids, err := ParseAgeIdentities(opts.AgeIdentities)
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("the SOPS decryption key: %w", err)}
		}
		r.identities = ids
	}
	renderer, err := detect(fsys, dir)
	if err != nil {
		return nil, err
	}
	// Templates and programs could transform a decrypted value past any check,
	// so only manifests are decrypted.
	r.decrypt = renderer == Plain || renderer == Kustomize
	objs, err := r.render(ctx, renderer, dir, opts)
	if err != nil {
		return nil, r.scrub(err)
	}
	origins := make([]Origin, len(objs))
	for i, o := range objs {
		origins[i] = r.origins[o]
	}
	if err := r.markEncrypted(objs, origins); err != nil {
		return nil, err
	}
	return &Result{Renderer: renderer, Objects: objs, Origins: origins, Inputs: r.inputs()}, nil
}

// render runs the renderer, applies the object limit and substitution, and
// sorts the objects.
func (r *reader) render(ctx context.Context, renderer Renderer, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	var (
		objs []*unstructured.Unstructured
		err  error
	)
	switch renderer {
	case Plain:
		objs, err = renderPlain(ctx, r, dir)
	case Kustomize:
		objs, err = renderKustomize(ctx, r, dir)
	case Helm:
		objs, err = renderHelm(ctx, r, dir, opts)
	case Jsonnet:
		objs, err = renderJsonnet(ctx, r, dir, opts.Jsonnet)
	}
	if err != nil {
		return nil, err
	}
	if len(objs) > opts.Limits.MaxObjects {
		return nil, &Error{File: dir, Err: fmt.Errorf("rendered %d objects, %w of %d", len(objs), ErrLimit, opts.Limits.MaxObjects)}
	}
	// Only when asked for (spec.source.substitute set, even to {}): a
	// ${NAME} in a manifest is otherwise text, as kubectl applies it (a
	// shell script in a ConfigMap, a CRD's description).
	if opts.Substitute != nil {
		if err := substitute(objs, opts.Substitute); err != nil {
			return nil, err
		}
	}
	sortObjects(objs)
	return objs, nil
}

// kustomizationFile names the folder's kustomization file, which the
// objects Kustomize builds are attributed to.
func kustomizationFile(fsys fs.FS, dir string) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := fs.Stat(fsys, path.Join(dir, name)); err == nil {
			return path.Join(dir, name)
		}
	}
	return dir
}

// detect chooses the renderer from the folder's own files (not its subfolders).
func detect(fsys fs.FS, dir string) (Renderer, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return "", &Error{File: dir, Err: err}
	}
	has := map[string]bool{}
	jsonnet := false
	for _, e := range entries {
		has[e.Name()] = true
		jsonnet = jsonnet || (!e.IsDir() && strings.HasSuffix(e.Name(), ".jsonnet"))
	}
	switch {
	case has["kustomization.yaml"] || has["kustomization.yml"] || has["Kustomization"]:
		return Kustomize, nil
	case has["Chart.yaml"]:
		return Helm, nil
	case jsonnet:
		return Jsonnet, nil
	default:
		return Plain, nil
	}
}

// sortObjects orders objects by group, kind, namespace and name, so a render's
// output does not depend on file or map order.
func sortObjects(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		ga, gb := a.GroupVersionKind(), b.GroupVersionKind()
		if ga.Group != gb.Group {
			return ga.Group < gb.Group
		}
		if ga.Kind != gb.Kind {
			return ga.Kind < gb.Kind
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}
