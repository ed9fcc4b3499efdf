package reconcile

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// projectIndex indexes Applications by the Project they follow, so a changed
// Project re-checks exactly its Applications.
const projectIndex = "spec.project"

func indexProject(o client.Object) []string {
	app, ok := o.(*v1.Application)
	if !ok {
		return nil
	}
	return []string{projectName(app)}
}

// projectApplications maps a changed Project to the Applications that follow
// it: tightening a rule stops their next sync, loosening one lets a denied
// Application go on, without waiting for the interval.
func (r *Reconciler) projectApplications(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	list := &v1.ApplicationList{}
	if err := r.client.List(ctx, list, client.MatchingFields{projectIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the Applications of a project", "project", o.GetName())
		return nil
	}
	return requestsOf(list.Items)
}
