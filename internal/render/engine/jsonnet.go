package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// maxJsonnetDepth bounds nesting of the evaluated output when it is flattened.
const maxJsonnetDepth = 32

// renderJsonnet evaluates every *.jsonnet file of dir (not *.libsonnet, which are
// for importing), in lexical order, with the top-level arguments and external
// variables given. A file may evaluate to an object (one Kubernetes object when it
// has apiVersion and kind, otherwise a map whose values are flattened), or an
// array of them. Imports resolve inside the repository only.
func renderJsonnet(ctx context.Context, r *reader, dir string, opts JsonnetOptions) ([]*unstructured.Unstructured, error) {
	entries, err := fs.ReadDir(r.fsys, dir)
	if err != nil {
		return nil, &Error{File: dir, Err: err}
	}
	im := &repoImporter{r: r, cache: map[string]*jsonnet.Contents{}}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jsonnet") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := path.Join(dir, e.Name())
		vm := jsonnet.MakeVM()
		vm.SetTraceOut(io.Discard) // std.trace is for a developer's terminal, not the controller's stderr
		vm.Importer(im)
		vm.MaxStack = 500
		for _, k := range sortedKeys(opts.TLAs) {
			vm.TLAVar(k, opts.TLAs[k])
		}
		for _, k := range sortedKeys(opts.ExtVars) {
			vm.ExtVar(k, opts.ExtVars[k])
		}
		out, err := vm.EvaluateFile(name) // read through the importer, like every import
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("jsonnet: %w", err)}
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			return nil, &Error{File: name, Err: err}
		}
		found, err := flattenJsonnet(v, 0)
		if err != nil {
			return nil, &Error{File: name, Err: err}
		}
		r.place(found, name)
		objs = append(objs, found...)
	}
	return objs, nil
}

func flattenJsonnet(v any, depth int) ([]*unstructured.Unstructured, error) {
	if depth > maxJsonnetDepth {
		return nil, errors.New("output nested too deeply to hold Kubernetes objects")
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		var out []*unstructured.Unstructured
		for _, item := range v {
			objs, err := flattenJsonnet(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	case map[string]any:
		if _, hasKind := v["kind"]; hasKind {
			data, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			o := &unstructured.Unstructured{}
			if err := o.UnmarshalJSON(data); err != nil {
				return nil, fmt.Errorf("not a Kubernetes object: %w", err)
			}
			if err := checkObject(o); err != nil {
				return nil, err
			}
			return []*unstructured.Unstructured{o}, nil
		}
		var out []*unstructured.Unstructured
		for _, k := range sortedKeys(v) {
			objs, err := flattenJsonnet(v[k], depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("evaluates to %T, not objects", v)
	}
}

// repoImporter resolves imports relative to the importing file, inside the
// repository only, through the reader's limits; a path that leaves the
// repository, an absolute path or a link is refused.
type repoImporter struct {
	r     *reader
	mu    sync.Mutex                   // guards cache
	cache map[string]*jsonnet.Contents // by repository path; the same path must give the same Contents
}

func (im *repoImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if strings.HasPrefix(importedPath, "/") {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: absolute paths are refused", importedPath)
	}
	// importedFrom is the repository path of the importing file ("" for the file
	// being evaluated, whose path is given relative to the root).
	p := path.Join(path.Dir(importedFrom), importedPath)
	if p == ".." || strings.HasPrefix(p, "../") {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q leaves the repository", importedPath)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if c, ok := im.cache[p]; ok {
		return *c, p, nil
	}
	data, err := im.r.readFile(p)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: %w", importedPath, err)
	}
	c := jsonnet.MakeContentsRaw(data)
	im.cache[p] = &c
	return c, p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
