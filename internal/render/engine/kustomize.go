package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/yaml"
)

// renderKustomize builds the kustomization in dir the way `kustomize build` does,
// from an in-memory copy of the files it needs. Kustomize fetches remote bases
// with git and HTTP whenever a reference is not a local path, and has no switch to
// stop it, so every reference of every reachable kustomization is checked first:
// one that is not a file or folder of the repository is refused. Only what the
// kustomizations reach is read, so the rest of the repository costs nothing.
func renderKustomize(ctx context.Context, r *reader, dir string) ([]*unstructured.Unstructured, error) {
	need := map[string]bool{} // folders whose files kustomize may read, and referenced files
	if err := checkLocalOnly(r, dir, need); err != nil {
		return nil, err
	}
	mem, err := copyToMemory(ctx, r, need)
	if err != nil {
		return nil, err
	}
	kfile := kustomizationFile(r.fsys, dir)
	addedOrigins, err := recordOrigins(mem, kfile)
	if err != nil {
		return nil, err
	}
	// kyaml keeps a kustomization's openapi: schema in a global, and forgets it
	// only when another one names a schema: one repository's merge keys must
	// never shape another's patches (renders share processes).
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	openapi.ResetOpenAPI()
	opts := krusty.MakeDefaultOptions() // plugins off; files load only from below their kustomization
	res, err := krusty.MakeKustomizer(opts).Run(mem, "/"+dir)
	if err != nil {
		return nil, &Error{File: dir, Err: fmt.Errorf("kustomize: %w", err)}
	}
	var objs []*unstructured.Unstructured
	for _, rs := range res.Resources() {
		// Through JSON, so numbers become the int64/float64 that unstructured
		// objects hold (Map() would give ints, which DeepCopy cannot copy).
		data, err := rs.MarshalJSON()
		if err != nil {
			return nil, &Error{File: dir, Err: err}
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			return nil, &Error{File: dir, Err: err}
		}
		if err := checkObject(o); err != nil {
			return nil, &Error{File: dir, Err: err}
		}
		r.place([]*unstructured.Unstructured{o}, originOf(o, dir, kfile, addedOrigins))
		objs = append(objs, o)
	}
	return objs, nil
}

// kustomizeMu serialises Kustomize builds in a process: its OpenAPI schema
// is global.
var kustomizeMu sync.Mutex

// copyToMemory copies the needed files into an in-memory file system rooted at
// "/": each needed folder's own regular files (not its subfolders) and each needed
// file. Symbolic links are left out, so a kustomization that names one finds
// nothing there.
func copyToMemory(ctx context.Context, r *reader, need map[string]bool) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	copyFile := func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if mem.Exists("/" + name) {
			return nil
		}
		data, err := r.readFile(name)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+name, data)
	}
	for name := range need {
		fi, err := fs.Stat(r.fsys, name)
		if err != nil {
			return nil, &Error{File: name, Err: err}
		}
		if !fi.IsDir() {
			if err := copyFile(name); err != nil {
				return nil, err
			}
			continue
		}
		if err := mem.MkdirAll("/" + name); err != nil {
			return nil, err
		}
		entries, err := fs.ReadDir(r.fsys, name)
		if err != nil {
			return nil, &Error{File: name, Err: err}
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				if err := copyFile(path.Join(name, e.Name())); err != nil {
					return nil, err
				}
			}
		}
	}
	return mem, nil
}

// checkLocalOnly refuses any reference of the kustomization in dir, and of the
// kustomizations it reaches, that is not a path inside the repository, and
// records in need every folder and file they reach.
func checkLocalOnly(r *reader, dir string, need map[string]bool) error {
	if need[dir] {
		return nil
	}
	need[dir] = true
	var file string
	var data []byte
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if b, err := r.readFile(path.Join(dir, name)); err == nil {
			file, data = path.Join(dir, name), b
			break
		}
	}
	if data == nil {
		return nil // a plain folder of manifests
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return &Error{File: file, Err: fmt.Errorf("invalid kustomization: %w", err)}
	}
	k.FixKustomization()
	if err := checkKustomizeCopies(r, dir, file, &k); err != nil {
		return err
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 {
		return &Error{File: file, Err: errors.New("helmCharts are not supported inside a kustomization; point the Application at the chart folder instead")}
	}
	for _, ref := range references(&k) {
		target := path.Join(dir, ref)
		fi, err := fs.Lstat(r.fsys, target)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return &Error{File: file, Err: fmt.Errorf("%q is a symbolic link; links are refused because they can point outside the repository", ref)}
		}
		if strings.HasPrefix(ref, "/") || target == ".." || strings.HasPrefix(target, "../") || err != nil {
			return &Error{File: file, Err: fmt.Errorf("%q is not a file or folder of this repository; remote bases and files are refused because nothing may be fetched from outside", ref)}
		}
		if !fi.IsDir() {
			need[target] = true
			continue
		}
		if err := checkLocalOnly(r, target, need); err != nil {
			return err
		}
	}
	return nil
}

// references lists every path a kustomization names.
func references(k *types.Kustomization) []string {
	var refs []string
	add := func(rs ...string) {
		for _, r := range rs {
			if r != "" {
				refs = append(refs, r)
			}
		}
	}
	add(k.Resources...)
	add(k.Components...)
	add(k.Crds...)
	add(k.Configurations...)
	add(k.Generators...)
	add(k.Transformers...)
	add(k.Validators...)
	add(k.OpenAPI["path"])
	for _, p := range k.Patches {
		add(p.Path)
	}
	// Deprecated in kustomize, but still honoured by it, so still checked here.
	//lint:ignore SA1019 the field is read to refuse remote paths in it
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") { // an inline patch is not a path
			add(string(p))
		}
	}
	for _, r := range k.Replacements {
		add(r.Path)
	}
	generators := append(append([]types.GeneratorArgs{}, configMapArgs(k)...), secretArgs(k)...)
	for _, g := range generators {
		for _, f := range g.FileSources {
			if _, p, ok := strings.Cut(f, "="); ok { // key=path
				f = p
			}
			add(f)
		}
		add(g.EnvSources...)
		add(g.EnvSource)
	}
	return refs
}

func configMapArgs(k *types.Kustomization) []types.GeneratorArgs {
	var out []types.GeneratorArgs
	for _, g := range k.ConfigMapGenerator {
		out = append(out, g.GeneratorArgs)
	}
	return out
}

func secretArgs(k *types.Kustomization) []types.GeneratorArgs {
	var out []types.GeneratorArgs
	for _, g := range k.SecretGenerator {
		out = append(out, g.GeneratorArgs)
	}
	return out
}

// originAnnotation is where Kustomize records the file each resource came from
// when buildMetadata lists originAnnotations.
const originAnnotation = "config.kubernetes.io/origin"

// recordOrigins asks Kustomize to annotate each resource with the file it came
// from (buildMetadata: [originAnnotations]) in the in-memory copy of the root
// kustomization, so a policy denial and the SOPS marking name the right file.
// It reports whether it added the request (and so must remove the annotations).
func recordOrigins(mem filesys.FileSystem, kfile string) (bool, error) {
	data, err := mem.ReadFile("/" + kfile)
	if err != nil {
		return false, &Error{File: kfile, Err: err}
	}
	k := map[string]any{}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return false, &Error{File: kfile, Err: fmt.Errorf("invalid kustomization: %w", err)}
	}
	meta, _ := k["buildMetadata"].([]any)
	for _, m := range meta {
		if m == "originAnnotations" {
			return false, nil
		}
	}
	k["buildMetadata"] = append(meta, "originAnnotations")
	out, err := yaml.Marshal(k)
	if err != nil {
		return false, &Error{File: kfile, Err: err}
	}
	return true, mem.WriteFile("/"+kfile, out)
}

// originOf is the repository file a built resource came from: the file its
// origin annotation names, else the kustomization (for generated objects). The
// annotation is removed when Lockstep asked for it.
func originOf(o *unstructured.Unstructured, dir, kfile string, remove bool) string {
	annotations := o.GetAnnotations()
	origin, ok := annotations[originAnnotation]
	if remove && ok {
		delete(annotations, originAnnotation)
		if len(annotations) == 0 {
			annotations = nil
		}
		o.SetAnnotations(annotations)
	}
	var fields struct {
		Path string `json:"path"`
		Repo string `json:"repo"`
	}
	if !ok || yaml.Unmarshal([]byte(origin), &fields) != nil || fields.Path == "" || fields.Repo != "" {
		return kfile
	}
	file := path.Join(dir, fields.Path)
	if file == ".." || strings.HasPrefix(file, "../") {
		return kfile
	}
	return file
}
