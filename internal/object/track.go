package object

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// TrackingLabel marks every object Lockstep applies, so the watch cache can list
// and watch only those. OwnerAnnotation names the Application ("namespace/name")
// that applies the object: watch events are routed to it, and another
// Application never prunes an object that has moved to a new owner.
const (
	TrackingLabel      = "lockstep.dev/managed"
	TrackingLabelValue = "true"
	OwnerAnnotation    = "lockstep.dev/application"
)

// TrackingSelector selects the objects Lockstep applied.
const TrackingSelector = TrackingLabel + "=" + TrackingLabelValue

// Track marks desired objects as applied by owner.
func Track(objs []*unstructured.Unstructured, owner string) {
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[TrackingLabel] = TrackingLabelValue
		o.SetLabels(labels)
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[OwnerAnnotation] = owner
		o.SetAnnotations(ann)
	}
}

// Owner returns the Application ("namespace/name") that applied o, or "" when
// none did.
func Owner(o *unstructured.Unstructured) string {
	return o.GetAnnotations()[OwnerAnnotation]
}
