package kube

import (
	"encoding/json"
	"fmt"

	"github.com/lockstep-dev/lockstep/internal/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/tools/cache"
)

// stored is an object as the informers hold it: its JSON, and the metadata
// that client-go's informer machinery and our indexes read. Decoded, an
// object is a tree of maps several times the size of its JSON; at 500
// Applications that tree was most of the controller's heap.
//
// Of ObjectMeta only name, namespace, uid, resourceVersion (the store key, and
// how an update is told from a resync) and ownerReferences (the owner index)
// are set; every other field is empty. Read the object through decode.
type stored struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	// raw is the object's JSON. It is never changed once set, so copies share it.
	raw []byte
}

// compact returns a transform that runs t, then keeps an Unstructured result
// as a stored. An object that is already stored passes through untouched:
// client-go may transform an object twice (a watch-list's objects are
// transformed in its temporary store, then again when they replace the
// informer's).
func compact(t cache.TransformFunc) cache.TransformFunc {
	return func(o any) (any, error) {
		if _, ok := o.(*stored); ok {
			return o, nil
		}
		o, err := t(o)
		if err != nil {
			return nil, err
		}
		if u, ok := o.(*unstructured.Unstructured); ok {
			return store(u)
		}
		return o, nil
	}
}

// store encodes u. u is not kept.
func store(u *unstructured.Unstructured) (*stored, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding for the watch cache: %w", object.KeyOf(u), err)
	}
	s := &stored{raw: raw}
	s.APIVersion, s.Kind = u.GetAPIVersion(), u.GetKind()
	s.Name, s.Namespace, s.UID, s.ResourceVersion = u.GetName(), u.GetNamespace(), u.GetUID(), u.GetResourceVersion()
	s.OwnerReferences = u.GetOwnerReferences()
	return s, nil
}

// decode returns a fresh copy of the object, the caller's to change.
// Integers come back as int64 and other numbers as float64, as the dynamic
// client decodes them.
func (s *stored) decode() (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(s.raw, &m); err != nil {
		gvk := s.GroupVersionKind()
		key := object.Key{Group: gvk.Group, Kind: gvk.Kind, Namespace: s.Namespace, Name: s.Name}
		return nil, fmt.Errorf("%s: decoding from the watch cache: %w", key, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// DeepCopyObject implements runtime.Object. The JSON is shared: it never changes.
func (s *stored) DeepCopyObject() runtime.Object {
	c := &stored{TypeMeta: s.TypeMeta, raw: s.raw}
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return c
}

// decoded returns what an event handler was given (a stored, or a
// DeletedFinalStateUnknown holding one) as a fresh object; ok is false for
// anything else, or when it does not decode.
func decoded(o any) (u *unstructured.Unstructured, ok bool) {
	if d, isTombstone := o.(cache.DeletedFinalStateUnknown); isTombstone {
		o = d.Obj
	}
	s, ok := o.(*stored)
	if !ok {
		return nil, false
	}
	u, err := s.decode()
	return u, err == nil
}

var (
	_ runtime.Object = (*stored)(nil)
	_ metav1.Object  = (*stored)(nil)
)
