// Package engine renders: it turns a folder of a source snapshot into
// Kubernetes objects, plain YAML/JSON, Kustomize, Helm or Jsonnet, chosen by
// what the folder holds, followed by ${VAR} substitution. It is a pure stage:
// it reads only the fs.FS it is given (never the local disk, the network or
// the cluster) and returns objects in a deterministic order, or an error
// naming the file and line to fix. What it is asked and returns are package
// render's types; only the render process links this package (see package
// render for why).
package engine

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
