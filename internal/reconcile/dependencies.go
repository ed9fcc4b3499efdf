package reconcile

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// dependsOnIndex indexes Applications by the names they depend on, so the
// Applications waiting for one are found without listing them all.
const dependsOnIndex = "spec.dependsOn"

func indexDependsOn(o client.Object) []string {
	app, ok := o.(*v1.Application)
	if !ok {
		return nil
	}
	names := make([]string, len(app.Spec.DependsOn))
	for i, d := range app.Spec.DependsOn {
		names[i] = d.Name
	}
	return names
}

// dependents maps a changed Application to those that depend on it: they start
// the moment it turns Ready, with no polling.
func (r *Reconciler) dependents(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	list := &v1.ApplicationList{}
	if err := r.client.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{dependsOnIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the Applications that depend on this one", "application", o.GetNamespace()+"/"+o.GetName())
		return nil
	}
	return requestsOf(list.Items)
}

// requestsOf is a reconcile request for each Application.
func requestsOf(apps []v1.Application) []ctrlreconcile.Request {
	reqs := make([]ctrlreconcile.Request, len(apps))
	for i, app := range apps {
		reqs[i] = ctrlreconcile.Request{NamespacedName: types.NamespacedName{Namespace: app.Namespace, Name: app.Name}}
	}
	return reqs
}

// readinessChanged passes updates that change whether an Application is Ready,
// creations (a dependency that did not exist) and deletions.
var readinessChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return true },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*v1.Application)
		after, ok2 := e.ObjectNew.(*v1.Application)
		return ok1 && ok2 && isReady(before) != isReady(after)
	},
}

// isReady is Ready=True for the Application's current spec.
func isReady(app *v1.Application) bool {
	c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && app.Status.ObservedGeneration == app.Generation
}

// errDependencyCycle is a dependsOn chain that leads back to where it started.
type errDependencyCycle struct{ path []string }

func (e errDependencyCycle) Error() string {
	return "dependsOn forms a cycle: " + strings.Join(e.path, " → ") + "; remove one of the links"
}

// dependencyWait returns why app must wait for its dependencies ("" when it need
// not), or a cycle error.
func (r *Reconciler) dependencyWait(ctx context.Context, app *v1.Application) (string, error) {
	if len(app.Spec.DependsOn) == 0 {
		return "", nil
	}
	if err := r.checkCycle(ctx, app.Namespace, []string{app.Name}, app.Spec.DependsOn); err != nil {
		return "", err
	}
	for _, d := range app.Spec.DependsOn {
		dep := &v1.Application{}
		err := r.client.Get(ctx, types.NamespacedName{Namespace: app.Namespace, Name: d.Name}, dep)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("waiting for Application %s, which does not exist", d.Name), nil
		}
		if err != nil {
			return "", err
		}
		if !isReady(dep) {
			why := "not reconciled yet"
			if c := meta.FindStatusCondition(dep.Status.Conditions, v1.ConditionReady); c != nil {
				why = c.Reason + ": " + pass.Truncate(c.Message, 256)
			}
			return fmt.Sprintf("waiting for Application %s to be Ready (%s)", d.Name, why), nil
		}
	}
	return "", nil
}

// checkCycle walks dependsOn depth first from path's last element.
func (r *Reconciler) checkCycle(ctx context.Context, namespace string, path []string, deps []v1.LocalObjectReference) error {
	if len(path) > 64 {
		return nil // deeper than any sane graph; the waits themselves will show it
	}
	for _, d := range deps {
		for _, seen := range path {
			if seen == d.Name {
				return errDependencyCycle{path: append(append([]string{}, path...), d.Name)}
			}
		}
		dep := &v1.Application{}
		if err := r.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: d.Name}, dep); err != nil {
			continue // a missing dependency is a wait, not a cycle
		}
		if err := r.checkCycle(ctx, namespace, append(path, d.Name), dep.Spec.DependsOn); err != nil {
			return err
		}
	}
	return nil
}
