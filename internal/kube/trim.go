package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Writer is a manager that wrote an object, as its managedFields say.
type Writer struct {
	Manager   string
	Operation string
	// Subresource is "status" or "scale" when the write went there.
	Subresource string
	Time        string
}

// LastWriter returns the most recent writer of o other than the named manager
// (Lockstep's own) and other than status writers, which never touch the fields
// Lockstep applies. ok is false when there is none. The API server records no
// time for writes through the scale subresource; such an entry is returned only
// when no other writer has a time.
func LastWriter(o metav1.Object, except string) (w Writer, ok bool) {
	for _, f := range o.GetManagedFields() {
		if f.Manager == except || f.Subresource == "status" {
			continue
		}
		t := ""
		if f.Time != nil {
			t = f.Time.UTC().Format("2006-01-02T15:04:05Z")
		}
		if !ok || t >= w.Time {
			w, ok = Writer{Manager: f.Manager, Operation: string(f.Operation), Subresource: f.Subresource, Time: t}, true
		}
	}
	return w, ok
}
