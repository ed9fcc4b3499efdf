package object

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
