package reconcile

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// projectIndex indexes Applications by the Project they follow, so a changed
// Project re-checks exactly its Applications.
const projectIndex = "spec.project"

func projectName(app *v1.Application) string {
	if app.Spec.Project == "" {
		return v1.DefaultProject
	}
	return app.Spec.Project
}

func indexProject(o client.Object) []string {
	app, ok := o.(*v1.Application)
	if !ok {
		return nil
	}
	return []string{projectName(app)}
}

// projectRules returns the rules of the Application's Project. A missing
// "default" Project means the built-in default; any other missing Project is
// a denial (the Application is checked again when it appears).
func (r *Reconciler) projectRules(ctx context.Context, app *v1.Application) (*policy.Rules, error) {
	name := projectName(app)
	p := &v1.Project{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: name}, p)
	switch {
	case apierrors.IsNotFound(err) && name == v1.DefaultProject:
		return policy.Permissive(), nil
	case apierrors.IsNotFound(err):
		return nil, &StageError{Reason: v1.ReasonPolicyDenied, Err: fmt.Errorf("project %s does not exist", name)}
	case err != nil:
		return nil, &StageError{Reason: v1.ReasonPolicyDenied, Transient: true, Err: fmt.Errorf("reading project %s: %w", name, err)}
	}
	rules, err := policy.Compile(p)
	if err != nil {
		return nil, &StageError{Reason: v1.ReasonPolicyDenied, Err: err}
	}
	return rules, nil
}

// projectApplications maps a changed Project to the Applications that follow
// it: tightening a rule stops their next sync, loosening one lets a denied
// Application go on, without waiting for the interval.
func (r *Reconciler) projectApplications(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	list := &v1.ApplicationList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{projectIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the Applications of a project", "project", o.GetName())
		return nil
	}
	return requestsOf(list.Items)
}
