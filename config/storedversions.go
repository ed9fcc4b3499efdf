package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// StoredVersionsError says that a CustomResourceDefinition in the cluster
// may hold objects stored at versions the install's CRD no longer serves:
// applying it would leave those objects unreadable at their version, or be
// refused by the API server halfway through the install.
type StoredVersionsError struct {
	// CRD is the CustomResourceDefinition's name (applications.lockstep.dev).
	CRD string
	// Stored is the live CRD's status.storedVersions.
	Stored []string
	// Unserved are the stored versions the install's CRD does not serve.
	Unserved []string
	// Served are the versions the install's CRD serves.
	Served []string
	// Storage is the install's storage version, and Plural the resource's
	// plural name: what the migration writes and reads.
	Storage, Plural string
}

func (e *StoredVersionsError) Error() string {
	return fmt.Sprintf("CustomResourceDefinition %s: objects may be stored at %s (status.storedVersions: %s), which this install no longer serves (it serves %s). "+
		"So that none becomes unreadable, migrate them first: with the CRD's storage version set to %s, read every one of them and write it back "+
		"(kubectl get %s -A -o json | kubectl replace -f -), then remove %s from its stored versions "+
		"(kubectl patch crd %s --subresource=status --type=merge -p '{\"status\":{\"storedVersions\":[\"%s\"]}}'), and install again",
		e.CRD, strings.Join(e.Unserved, ", "), strings.Join(e.Stored, ", "), strings.Join(e.Served, ", "),
		e.Storage, e.Plural, strings.Join(e.Unserved, ", "), e.CRD, e.Storage)
}

// CheckStoredVersions refuses an install whose CustomResourceDefinitions
// (in objs) would stop serving a version their live copies (in live, the
// CRDs of the same names that exist in the cluster) may store objects at.
// It returns one *StoredVersionsError per such CRD, joined; nil when every
// stored version stays served. Call it before applying anything, so that a
// refused install changes nothing.
//
// The API server itself refuses a CRD that drops a stored version from
// spec.versions, but only when that CRD is applied, after the objects
// before it have been; and it accepts one that keeps the version but stops
// serving it, which this check refuses too: a version goes only once no
// object is stored at it.
func CheckStoredVersions(live, objs []*unstructured.Unstructured) error {
	next := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			next[o.GetName()] = o
		}
	}
	var errs []error
	for _, l := range live {
		crd, ok := next[l.GetName()]
		if !ok {
			continue
		}
		served, storage := versions(crd)
		stored, _, _ := unstructured.NestedStringSlice(l.Object, "status", "storedVersions")
		var unserved []string
		for _, v := range stored {
			if !slices.Contains(served, v) {
				unserved = append(unserved, v)
			}
		}
		if len(unserved) > 0 {
			plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
			errs = append(errs, &StoredVersionsError{CRD: l.GetName(), Stored: stored, Unserved: unserved, Served: served, Storage: storage, Plural: plural})
		}
	}
	return errors.Join(errs...)
}

// versions are the names of a CRD's versions with served: true, and the
// one with storage: true.
func versions(crd *unstructured.Unstructured) (served []string, storage string) {
	list, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range list {
		v, _ := v.(map[string]any)
		name, _ := v["name"].(string)
		if ok, _ := v["served"].(bool); ok {
			served = append(served, name)
		}
		if ok, _ := v["storage"].(bool); ok {
			storage = name
		}
	}
	return served, storage
}
