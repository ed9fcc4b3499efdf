package object

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Key identifies an object independent of its API version.
type Key struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// KeyOf returns the key of an object. An object named only by
// metadata.generateName (a hook, created anew on each run) is keyed by its
// prefix and a star: "migrate-*".
func KeyOf(o *unstructured.Unstructured) Key {
	gvk := o.GroupVersionKind()
	name := o.GetName()
	if name == "" && o.GetGenerateName() != "" {
		name = o.GetGenerateName() + "*"
	}
	return Key{Group: gvk.Group, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: name}
}

// String renders the key as errors and logs name objects: Kind/namespace/name,
// with the group for non-core kinds (Deployment.apps/prod/web).
func (k Key) String() string {
	kind := schema.GroupKind{Group: k.Group, Kind: k.Kind}.String()
	if k.Namespace == "" {
		return kind + "/" + k.Name
	}
	return kind + "/" + k.Namespace + "/" + k.Name
}
