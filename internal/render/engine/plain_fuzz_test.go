package engine_test

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
)

// fuzzLimits are small, so that inputs the fuzzer can reach also reach the
// limits.
var fuzzLimits = render.Limits{MaxFileSize: 8 << 10, MaxTotalSize: 16 << 10, MaxObjects: 20}

// checkRendered asserts what Render promises for any input: a failure is a
// *render.Error naming a file inside the repository; a success respects the
// object limit, holds only objects that can be applied, each attributed to a
// file inside the repository, sorted by group, kind, namespace and name.
func checkRendered(t *testing.T, res *render.Result, err error, limits render.Limits) {
	t.Helper()
	if err != nil {
		var rerr *render.Error
		if !errors.As(err, &rerr) {
			t.Fatalf("error %q (%T) is not a *render.Error", err, err)
		}
		if rerr.File != "" && !fs.ValidPath(rerr.File) {
			t.Fatalf("error %q names %q, which is not a path inside the repository", err, rerr.File)
		}
		return
	}
	if len(res.Objects) > limits.MaxObjects {
		t.Fatalf("%d objects, over the limit of %d", len(res.Objects), limits.MaxObjects)
	}
	if len(res.Origins) != len(res.Objects) {
		t.Fatalf("%d origins for %d objects", len(res.Origins), len(res.Objects))
	}
	for i, o := range res.Objects {
		if o.GetAPIVersion() == "" || o.GetKind() == "" || (o.GetName() == "" && o.GetGenerateName() == "") {
			t.Fatalf("object %d has no apiVersion, kind or name: %v", i, o.Object)
		}
		if !fs.ValidPath(res.Origins[i].File) {
			t.Fatalf("object %s/%s comes from %q, not a path inside the repository", o.GetKind(), o.GetName(), res.Origins[i].File)
		}
		if i > 0 && less(o, res.Objects[i-1]) {
			t.Fatalf("objects out of order: %s/%s after %s/%s", o.GetKind(), o.GetName(), res.Objects[i-1].GetKind(), res.Objects[i-1].GetName())
		}
	}
}

// less is the order Render promises: group, kind, namespace, name.
func less(a, b *unstructured.Unstructured) bool {
	ka := []string{a.GroupVersionKind().Group, a.GetKind(), a.GetNamespace(), a.GetName()}
	kb := []string{b.GroupVersionKind().Group, b.GetKind(), b.GetNamespace(), b.GetName()}
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] < kb[i]
		}
	}
	return false
}

// FuzzPlain feeds one manifest file, YAML or JSON, to a plain render next to
// a fixed one. Beyond checkRendered: a file over the size limit fails with
// ErrLimit, a line number in an error is a line of the file, and rendering is
// deterministic.
func FuzzPlain(f *testing.F) {
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 2\n"))
	f.Add([]byte("# comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n--- # next\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: \"1\"}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"runner"}}`))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n- apiVersion: v1\n  kind: Secret\n  metadata: {generateName: a-}\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: &l {a: b}\n  annotations: *l\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tab\n"))
	f.Add([]byte("---garbage\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + string(bytes.Repeat([]byte("a"), 9<<10)) + "\n"))
	const dir = "app"
	const name = dir + "/m.yaml"
	fixed := &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n")}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{name: &fstest.MapFile{Data: data}, dir + "/fixed.json": fixed}
		opts := render.Options{Limits: fuzzLimits}
		res, err := render.Render(t.Context(), fsys, dir, opts)
		checkRendered(t, res, err, fuzzLimits)
		if int64(len(data)) > fuzzLimits.MaxFileSize && !errors.Is(err, render.ErrLimit) {
			t.Fatalf("a file of %d bytes gave %v, want ErrLimit", len(data), err)
		}
		var rerr *render.Error
		if errors.As(err, &rerr) && rerr.File == name {
			if lines := bytes.Count(data, []byte("\n")) + 1; rerr.Line > lines {
				t.Fatalf("error %q names line %d of a file of %d lines", err, rerr.Line, lines)
			}
		}
		again, err2 := render.Render(t.Context(), fsys, dir, opts)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("two renders disagree: %v, then %v", err, err2)
		}
		if err == nil && !reflect.DeepEqual(res, again) {
			t.Fatalf("two renders of the same files differ")
		}
	})
}
