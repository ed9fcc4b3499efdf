package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// checkOwnership refuses to apply an object another Application still manages
// (it is in that Application's inventory): two Applications writing one object
// would undo each other forever. An object whose former owner no longer lists it
// (it moved from one Application to another) is taken over.
func (r *Reconciler) checkOwnership(ctx context.Context, app *v1.Application, desired []*unstructured.Unstructured, current map[object.Key]*unstructured.Unstructured) error {
	me := app.Namespace + "/" + app.Name
	var errs []error
	for _, o := range desired {
		k := object.KeyOf(o)
		live := current[k]
		if live == nil {
			continue
		}
		owner := object.Owner(live)
		if owner == "" || owner == me {
			continue
		}
		ns, name, ok := strings.Cut(owner, "/")
		if !ok {
			continue
		}
		other := &v1.Application{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, other); err != nil {
			continue // gone (or unreadable): nobody else manages it
		}
		for _, e := range other.Status.Inventory {
			if e.Group == k.Group && e.Kind == k.Kind && e.Namespace == k.Namespace && e.Name == k.Name {
				errs = append(errs, fmt.Errorf("%s is managed by Application %s; an object belongs to one Application only: remove it from one of them", k, owner))
				break
			}
		}
	}
	return errors.Join(errs...)
}
