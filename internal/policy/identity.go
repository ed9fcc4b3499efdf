package policy

import (
	"fmt"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// ServiceAccount is the service account, in the Application's namespace, that
// the Application applies, prunes and reads as: its own choice, else its
// Project's, else fallback (the install's default). "" means the controller's
// own identity. CheckApplication has refused an Application whose choice the
// Project does not allow.
func (r *Rules) ServiceAccount(app *v1.Application, fallback string) string {
	switch {
	case app.Spec.Destination.ServiceAccountName != "":
		return app.Spec.Destination.ServiceAccountName
	case r.spec.ServiceAccountName != "":
		return r.spec.ServiceAccountName
	}
	return fallback
}

// Verification is the signature check an Application is held to: its
// Project's, else its own, else none (nil). keysNamespace is where its key
// sources live when they name no namespace: controllerNamespace for a
// Project's, the Application's own for its own. An Application may read keys
// from its own namespace only (a Project may name any): otherwise it could
// point at keys it does not control.
//
// fromProject says whose the keys are: a Project's are the platform's, an
// Application's are read as its identity.
func (r *Rules) Verification(app *v1.Application, controllerNamespace string) (v *v1.Verification, keysNamespace string, fromProject bool, err error) {
	if r.spec.Verification != nil {
		return r.spec.Verification, controllerNamespace, true, nil
	}
	v = app.Spec.Source.Git.Verify
	if v == nil {
		return nil, "", false, nil
	}
	for _, k := range v.KeysFrom {
		if k.Namespace != "" && k.Namespace != app.Namespace {
			return nil, "", false, fmt.Errorf("spec.source.git.verify: keys in namespace %s: an Application reads keys from its own namespace only (a Project may name others)", k.Namespace)
		}
	}
	return v, app.Namespace, false, nil
}

// Approvals says whether the two-person rule applies, and if so which key
// sources sign approved commits (in the controller's namespace unless they name
// another) and which trailer names an approver. The approval keys must be
// named: the verification keys would not do, since a developer may hold one
// and write the trailers herself.
func (r *Rules) Approvals() (required bool, keys []v1.KeySource, trailer string, err error) {
	a := r.spec.Approvals
	if a == nil {
		return false, nil, "", nil
	}
	if len(a.KeysFrom) == 0 {
		return true, nil, "", fmt.Errorf("project %s: spec.approvals needs spec.approvals.keysFrom, the keys that sign approved commits", r.Project)
	}
	return true, a.KeysFrom, r.approvalTrailer(), nil
}

func (r *Rules) approvalTrailer() string {
	if r.spec.Approvals != nil && r.spec.Approvals.Trailer != "" {
		return r.spec.Approvals.Trailer
	}
	return "Approved-by"
}

// SyncTimeout is how long one sync of the Application may take: its own
// spec.sync.timeout, capped by the Project's maxSyncTimeout and by
// controllerMax (0: no cap of the controller's).
func (r *Rules) SyncTimeout(app *v1.Application, controllerMax time.Duration) time.Duration {
	t := app.Spec.Sync.TimeoutOrDefault()
	if m := r.spec.MaxSyncTimeout; m != nil && m.Duration > 0 {
		t = min(t, m.Duration)
	}
	if controllerMax > 0 {
		t = min(t, controllerMax)
	}
	return t
}
