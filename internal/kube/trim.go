package kube

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lastApplied is kubectl's client-side-apply record: a second copy of the object
// that says nothing Lockstep compares.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trim drops what the cache never reads before an object is stored: the field
// sets of managedFields (the manager, operation and time stay, to say who last
// wrote an object) and kubectl's last-applied annotation. For a typical
// Deployment that is most of its metadata.
func trim(o any) (any, error) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return o, nil
	}
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return u, nil
	}
	if entries, ok := md["managedFields"].([]any); ok {
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				delete(m, "fieldsV1")
			}
		}
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		delete(ann, lastApplied)
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	return u, nil
}
