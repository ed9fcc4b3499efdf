package engine

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderPlain decodes every *.yaml, *.yml and *.json file under dir, in lexical
// path order. Hidden files and folders (.github, .git*) are skipped.
func renderPlain(ctx context.Context, r *reader, dir string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	seen := map[string]string{} // object identity → file that defined it
	err := fs.WalkDir(r.fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return &Error{File: name, Err: err}
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if name != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return &Error{File: name, Err: fmt.Errorf("is a symbolic link; links are refused because they can point outside the repository")}
		}
		if d.IsDir() || !isManifest(name) {
			return nil
		}
		data, err := r.readFile(name)
		if err != nil {
			return err
		}
		docs, err := decodeManifests(name, data)
		if err != nil {
			return err
		}
		for _, o := range docs {
			id := identity(o)
			if first, dup := seen[id]; dup {
				return &Error{File: name, Err: fmt.Errorf("%s is already defined in %s", id, first)}
			}
			seen[id] = name
		}
		r.place(docs, name)
		objs = append(objs, docs...)
		return nil
	})
	return objs, err
}

func isManifest(name string) bool {
	switch path.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// identity is Kind/namespace/name (group-qualified), as errors name objects.
func identity(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind().String()
	name := o.GetName()
	if name == "" {
		name = o.GetGenerateName() + "*" // a hook named anew on each run
	}
	if o.GetNamespace() != "" {
		return gk + "/" + o.GetNamespace() + "/" + name
	}
	return gk + "/" + name
}
