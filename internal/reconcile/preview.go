package reconcile

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// Preview is what syncing an Application would do now.
type Preview struct {
	// Commit is the revision the plan is for; nil when the source failed.
	Commit *source.Commit
	// Plan is what a sync would do.
	Plan plan.Plan
	// Observed is the live state the plan was computed from.
	Observed apply.Observation
	// Digest identifies the desired objects (plan.Digest).
	Digest string
	// Project is the name of the Project whose rules were applied.
	Project string
	// Verified names the trusted key that signed the revision; nil when the
	// Application needs no signature.
	Verified *verify.Result
	// Approvers are the approvals the two-person rule counted.
	Approvers []string

	// applier acts as the Application's service account.
	applier *apply.Applier
	// rendered are the objects rendered, also when planning failed: their
	// Secrets' values are scrubbed from every message.
	rendered []*unstructured.Unstructured
}

func policyObjects(res *render.Result) []policy.Object {
	out := make([]policy.Object, len(res.Objects))
	for i, o := range res.Objects {
		out[i] = policy.Object{Unstructured: o, File: res.Origins[i].File, Encrypted: res.Origins[i].Encrypted}
	}
	return out
}

func clusterOf(app *v1.Application) string {
	if app.Spec.Destination.Cluster == "" {
		return v1.InCluster
	}
	return app.Spec.Destination.Cluster
}

func ignoreRules(app *v1.Application) []plan.IgnoreRule {
	var rules []plan.IgnoreRule
	for _, d := range app.Spec.Sync.IgnoreDifferences {
		rules = append(rules, plan.IgnoreRule{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Pointers: d.JSONPointers})
	}
	return rules
}

// StageError is the failure of one pipeline stage: Reason is the stage's
// condition reason (SourceFailed, RenderFailed, PlanFailed, ...).
type StageError struct {
	Reason    string
	Transient bool
	Err       error
}

func (e *StageError) Error() string { return e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Preview runs source → render → plan for app and applies nothing; the
// controller syncs from it and `lockstep diff` shows it. A fresh resolution of
// the repository up to sourceMaxAge old is reused.
func (r *Reconciler) Preview(ctx context.Context, app *v1.Application, sourceMaxAge time.Duration) (*Preview, error) {
	pv := &Preview{Project: projectName(app)}
	fail := func(reason string, transient bool, err error) (*Preview, error) {
		return pv, &StageError{Reason: reason, Transient: transient, Err: err}
	}
	failed := func(err error) (*Preview, error) { return pv, err }

	// policy: the repository and destination, before anything is fetched
	rules, err := r.projectRules(ctx, app)
	if err != nil {
		return failed(err)
	}
	if err := rules.CheckApplication(app); err != nil {
		return fail(v1.ReasonPolicyDenied, false, err)
	}
	if pv.applier, err = r.applierFor(app, rules); err != nil {
		return failed(err)
	}

	// source
	req := source.Request{
		URL: app.Spec.Source.Git.URL, Ref: sourceRef(app.Spec.Source.Git.Ref),
		Credentials:   func(ctx context.Context) (source.Auth, error) { return r.credentials(ctx, app) },
		CredentialsID: credentialsID(app),
	}
	snap, err := r.Sources.Fetch(ctx, req, source.FetchOptions{MaxAge: sourceMaxAge})
	if err != nil {
		var se *source.Error
		return fail(v1.ReasonSourceFailed, errors.As(err, &se) && se.Transient, err)
	}
	pv.Commit = &snap.Commit

	// verify: signatures, then the approvals they vouch for
	if pv.Verified, err = r.verifyRevision(ctx, app, rules, snap); err != nil {
		return failed(err)
	}
	if pv.Approvers, err = r.checkApprovals(ctx, rules, snap.Commit); err != nil {
		return failed(err)
	}

	// render
	opts := r.renderOptions(app)
	if opts.Helm.Values, err = r.helmValues(ctx, app, pv.applier); err != nil {
		return fail(v1.ReasonRenderFailed, isTransientAPIError(err), err)
	}
	if opts.AgeIdentities, err = r.ageIdentities(ctx, app); err != nil {
		return fail(v1.ReasonRenderFailed, isTransientAPIError(err), err)
	}
	rendered, err := r.renders.render(ctx, snap, app, opts)
	if err != nil {
		return fail(v1.ReasonRenderFailed, false, err)
	}
	objs := rendered.Objects
	pv.rendered = objs
	if err := pv.applier.Normalize(objs, app.Spec.Destination.Namespace); err != nil {
		return fail(v1.ReasonPlanFailed, false, err)
	}

	// policy: every object, before anything is read from or applied to the cluster
	if err := rules.CheckObjects(clusterOf(app), policyObjects(rendered)); err != nil {
		return fail(v1.ReasonPolicyDenied, false, err)
	}

	// plan
	owner := app.Namespace + "/" + app.Name
	object.Track(objs, owner)
	pv.Digest = plan.Digest(objs)
	ignore := ignoreRules(app)
	if err := plan.ValidateIgnoreRules(ignore); err != nil {
		return fail(v1.ReasonInvalidSpec, false, err)
	}
	inventory := inventoryFrom(app.Status.Inventory)
	if pv.Observed, err = pv.applier.Observe(ctx, objs, inventory, ignore); err != nil {
		return fail(v1.ReasonPlanFailed, isTransientAPIError(err), err)
	}
	if err := r.checkOwnership(ctx, app, objs, pv.Observed.Current); err != nil {
		return fail(v1.ReasonPlanFailed, false, err)
	}
	pv.Plan, err = plan.Compute(plan.Input{Desired: objs, DryRun: pv.Observed.DryRun, Current: pv.Observed.Current,
		Inventory: inventory, Prune: app.Spec.Sync.Prune, Ignore: ignore, Owner: owner})
	if err != nil {
		return fail(v1.ReasonPlanFailed, false, err)
	}
	return pv, nil
}
