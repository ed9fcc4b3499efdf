package plan

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ignoredMetadata are fields the server owns: they change on every write and say
// nothing about whether the object matches Git.
var ignoredMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

// ChangedFields compares the live object with what it would become (a server-side
// dry run of the desired object) and returns the paths of the fields that differ,
// sorted. Status and server-owned metadata are ignored. Paths use dots and [i] for
// list items; a Secret's data keys are reported but never its values.
func ChangedFields(live, wouldBe *unstructured.Unstructured) []string {
	a, b := Comparable(live).Object, Comparable(wouldBe).Object
	var paths []string
	diffValues("", a, b, &paths)
	sort.Strings(paths)
	return paths
}

// Comparable returns a copy of o without status and server-owned metadata: the
// part of an object that Git decides, for comparing and for showing diffs.
func Comparable(o *unstructured.Unstructured) *unstructured.Unstructured {
	c := o.DeepCopy().Object
	delete(c, "status")
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, f := range ignoredMetadata {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			// kubectl's client-side-apply record is not part of the desired state.
			delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return &unstructured.Unstructured{Object: c}
}

func diffValues(path string, a, b any, out *[]string) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			diffValues(object.JoinPath(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList && len(al) == len(bl) {
		for i := range al {
			diffValues(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, path)
	}
}
