package reconcile

import (
	"fmt"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// serviceAccountOf is the service account, in the Application's namespace,
// that the Application applies, prunes and reads as: its own choice, else its
// Project's, else the install's default; "" means the controller's identity.
func (r *Reconciler) serviceAccountOf(app *v1.Application, rules *policy.Rules) string {
	switch {
	case app.Spec.Destination.ServiceAccountName != "":
		return app.Spec.Destination.ServiceAccountName
	case rules.Spec().ServiceAccountName != "":
		return rules.Spec().ServiceAccountName
	}
	return r.DefaultServiceAccount
}

// applierFor returns the Applier that acts as the Application's service account.
func (r *Reconciler) applierFor(app *v1.Application, rules *policy.Rules) (*apply.Applier, error) {
	sa := r.serviceAccountOf(app, rules)
	if sa == "" {
		return r.Applier, nil
	}
	a, err := r.Applier.As(serviceAccountUser(app.Namespace, sa))
	if err != nil {
		return nil, &StageError{Reason: v1.ReasonInvalidSpec, Err: fmt.Errorf("acting as service account %s/%s: %w", app.Namespace, sa, err)}
	}
	return a, nil
}

// serviceAccountUser is the user name Kubernetes gives a service account.
func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}
