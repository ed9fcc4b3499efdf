package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// Pipeline runs the stages for one Application: Preview goes source → verify →
// render → policy → plan and changes nothing; Sync applies a previewed plan and
// evaluates health. Both return what they found as a pass.Pass; reporting it
// (status, Events, ledger) is the caller's. The controller, `lockstep diff` and
// the API build it the same way, with NewPipeline.
type Pipeline struct {
	reader          client.Reader
	clients         *kube.Clients
	sources         *source.Cache
	renders         *render.Cache
	applier         *apply.Applier
	now             func() time.Time
	log             logr.Logger
	namespace       string
	defaultSA       string
	kubeVersion     string
	requireProjects bool
	maxSyncTimeout  time.Duration
	fetchTimeout    time.Duration
	tenantReads     bool

	keys        ttlCache[*verify.KeyRing] // trusted keys, by key sources
	decryptKeys ttlCache[string]          // age identities, by Secret
}

// Deps are a Pipeline's collaborators and settings.
type Deps struct {
	// Reader reads Applications and Projects as the controller. Required.
	Reader client.Reader
	// Clients are the controller's clients of the destination cluster. What an
	// Application names (Git credentials, its own trusted keys, age keys, Helm
	// values) is read through them as its service account; a Project's keys as
	// the controller. Required.
	Clients *kube.Clients
	// Sources is the shared repository cache. Required.
	Sources *source.Cache
	// Renders remembers renders of unchanged inputs. Required.
	Renders *render.Cache
	// Applier observes and applies as the controller; the Pipeline derives the
	// Applier of each Application's service account from it. Required.
	Applier *apply.Applier
	// Clock is the one clock of every pass. Required.
	Clock func() time.Time
	// Logger gets what a pass cannot report otherwise (a SyncFailed hook's own
	// failure).
	Logger logr.Logger
	// Namespace is the controller's own: a Project's trusted keys are read from
	// it unless the Project names another.
	Namespace string
	// DefaultServiceAccount is the service account (in each Application's
	// namespace) to act as when neither the Application nor its Project names
	// one; "" acts as the controller itself.
	DefaultServiceAccount string
	// KubeVersion is what Helm charts see as .Capabilities.KubeVersion.
	KubeVersion string
	// TenantReadsAsController lets an Application without a service account
	// have the Secrets it names (Git credentials, its keys, Helm values) read
	// as the controller, for a single team's cluster. Without it such an
	// Application may name none: the controller would read, and send to a
	// repository, a Secret its author might not be allowed to read.
	TenantReadsAsController bool
	// FetchTimeout bounds one look at a repository (listing its refs and
	// fetching what is new), whatever the sync timeout; 0: DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxSyncTimeout caps every Application's spec.sync.timeout (0: no cap);
	// a Project may cap it further.
	MaxSyncTimeout time.Duration
	// RequireProjects makes a missing Project a denial, "default" included;
	// otherwise a missing "default" is the built-in one, which allows
	// everything.
	RequireProjects bool
}

// NewPipeline returns a Pipeline, or an error naming a missing collaborator.
func NewPipeline(d Deps) (*Pipeline, error) {
	var missing []error
	for _, dep := range []struct {
		name string
		ok   bool
	}{{"Reader", d.Reader != nil}, {"Clients", d.Clients != nil}, {"Sources", d.Sources != nil},
		{"Renders", d.Renders != nil}, {"Applier", d.Applier != nil}, {"Clock", d.Clock != nil}} {
		if !dep.ok {
			missing = append(missing, fmt.Errorf("reconcile.NewPipeline: Deps.%s is required", dep.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	return &Pipeline{reader: d.Reader, clients: d.Clients, sources: d.Sources, renders: d.Renders, applier: d.Applier,
		now: d.Clock, log: d.Logger, namespace: d.Namespace, defaultSA: d.DefaultServiceAccount, kubeVersion: d.KubeVersion,
		requireProjects: d.RequireProjects, maxSyncTimeout: d.MaxSyncTimeout, tenantReads: d.TenantReadsAsController,
		fetchTimeout: cmp.Or(d.FetchTimeout, DefaultFetchTimeout)}, nil
}

// PreviewOptions control one Preview.
type PreviewOptions struct {
	// Fresh resolves the followed ref anew; otherwise a recent resolution is
	// reused unless the Application asks for a fresh one (first pass, changed
	// spec, refresh or sync requested).
	Fresh bool
	// Revision, when set, is previewed instead of the followed ref (lockstep
	// diff --revision): a branch about to be merged, or a commit. It is
	// resolved anew and goes through every check a sync makes; those it
	// fails that do not stop a plan (signature, approvals, rollback rule,
	// prunes and adoptions) are the pass's Unmet, and the plan is still
	// computed, so a pull request shows both what it changes and what it
	// still lacks.
	Revision *source.Ref
}

// Preview runs source → verify → render → policy → plan for app and changes
// nothing. The pass is returned also when a stage fails; the error is then
// the pass's Err.
func (pl *Pipeline) Preview(ctx context.Context, app *v1.Application, opts PreviewOptions) (*pass.Pass, error) {
	revision := ""
	if r := opts.Revision; r != nil {
		app = app.DeepCopy()
		app.Spec.Source.Git.Ref = v1.GitRef{Branch: r.Branch, Tag: r.Tag, Commit: r.Commit}
		revision, opts.Fresh = r.String(), true
	}
	p := &pass.Pass{Application: app, Started: pl.now(), Project: projectName(app), Revision: revision}
	err := pl.preview(ctx, p, opts)
	p.Finished = pl.now()
	p.TakeSyncRequest()
	if err != nil {
		p.Err = asStageError(err)
		return p, p.Err
	}
	p.Decision, p.Trigger = pass.Decide(app, p.Plan, p.Digest, p.Request != nil)
	p.Health, p.HealthSummary = pass.Health(p.Plan, p.Observed, apply.ChangeSet{})
	return p, nil
}

func (pl *Pipeline) preview(ctx context.Context, p *pass.Pass, opts PreviewOptions) error {
	app := p.Application

	// policy: the repository, destination and identity, before anything is fetched
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return err
	}
	if err := rules.CheckApplication(app); err != nil {
		return stageError(v1.ReasonPolicyDenied, false, err)
	}
	p.Identity = pl.identity(app, rules)
	p.Timeout = rules.SyncTimeout(app, pl.maxSyncTimeout)
	ctx, cancel := context.WithTimeout(ctx, p.Timeout-pl.now().Sub(p.Started))
	defer cancel()
	applier, err := pl.applier.As(p.Identity)
	if err != nil {
		return stageError(v1.ReasonInvalidSpec, false, err)
	}

	// source, verify and render; a folder missing from a reused resolution of
	// the ref may have been pushed since: resolve it anew, once
	maxAge := sourceMaxAge(app, p.Started)
	if opts.Fresh {
		maxAge = 0
	}
	rendered, err := pl.renderNewest(ctx, p, rules, maxAge)
	if errors.Is(err, render.ErrPathNotFound) && maxAge > 0 && p.Resolved.Before(p.Started) {
		p.Commit, p.Resolved, p.Verified, p.Approvers = nil, time.Time{}, nil, nil
		rendered, err = pl.renderNewest(ctx, p, rules, 0)
	}
	if err != nil {
		return err
	}
	p.Rendered = rendered
	objs := rendered.Objects
	if err := applier.Normalize(objs, app.Spec.Destination.Namespace); err != nil {
		return stageError(v1.ReasonPlanFailed, false, err)
	}

	// policy: every object, before anything is read from or applied to the cluster
	if err := rules.CheckObjects(clusterOf(app), policyObjects(rendered)); err != nil {
		return stageError(v1.ReasonPolicyDenied, false, err)
	}

	// plan
	owner := app.Namespace + "/" + app.Name
	object.Track(objs, owner)
	p.Digest = plan.Digest(objs)
	ignore := ignoreRules(app)
	if err := plan.ValidateIgnoreRules(ignore); err != nil {
		return stageError(v1.ReasonInvalidSpec, false, err)
	}
	inventory := inventoryFrom(app.Status.ManagedRefs())
	if p.Observed, err = applier.Observe(ctx, objs, inventory, ignore); err != nil {
		return stageError(v1.ReasonPlanFailed, isTransientAPIError(err), err)
	}
	if err := policy.CheckOwnership(pl.ownershipClaims(ctx, owner, objs, p.Observed.Current)); err != nil {
		return stageError(v1.ReasonPlanFailed, false, err)
	}
	p.Plan, err = plan.Compute(plan.Input{Desired: objs, DryRun: p.Observed.DryRun, Current: p.Observed.Current,
		Inventory: inventory, Prune: app.Spec.Sync.Prune, Ignore: ignore, Owner: owner})
	if err == nil {
		err = p.Plan.CheckRecordable()
	}
	if err != nil {
		return stageError(v1.ReasonPlanFailed, false, err)
	}

	// policy: what the plan deletes and takes over, against the Project as it is now
	if err := rules.CheckPrunes(clusterOf(app), pruned(p.Plan)); err != nil {
		return p.NoteUnmet(stageError(v1.ReasonPolicyDenied, false, err))
	}
	if err := rules.CheckAdoptions(adoptions(p.Plan, p.Observed.Current)); err != nil {
		return p.NoteUnmet(stageError(v1.ReasonPolicyDenied, false, err))
	}
	return nil
}

// adoptions are the existing objects nobody manages that the plan takes over.
func adoptions(pl plan.Plan, current map[object.Key]*unstructured.Unstructured) []policy.Adoption {
	var out []policy.Adoption
	for _, s := range pl.Steps {
		if !s.Adopted {
			continue
		}
		a := policy.Adoption{Key: s.Key}
		if live := current[s.Key]; live != nil {
			if w, ok := object.LastWriter(live, apply.FieldManager); ok {
				a.ManagedBy = w.Manager
			}
		}
		out = append(out, a)
	}
	return out
}

// pruned are the keys of the objects a plan deletes.
func pruned(pl plan.Plan) []object.Key {
	var keys []object.Key
	for _, s := range pl.Steps {
		if s.Action == plan.Prune {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// DefaultFetchTimeout bounds a look at a repository: a server that stops
// answering holds a worker this long, not the Application's sync timeout.
const DefaultFetchTimeout = 3 * time.Minute

// SyncTimeout is how long a sync of app may take before its Project was read:
// its own timeout under the controller's cap. The pass then narrows it
// (pass.Pass.Timeout).
func (pl *Pipeline) SyncTimeout(app *v1.Application) time.Duration {
	if t := app.Spec.Sync.TimeoutOrDefault(); pl.maxSyncTimeout <= 0 || t < pl.maxSyncTimeout {
		return t
	}
	return pl.maxSyncTimeout
}

// identity is the user an Application reads and applies as: its service
// account as the Project's rules choose it, "" for the controller itself.
// Identity is the user an Application acts as (its or its Project's service
// account, or the default one); "" is the controller itself.
func (pl *Pipeline) Identity(ctx context.Context, app *v1.Application) (string, error) {
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return "", err
	}
	return pl.identity(app, rules), nil
}

func (pl *Pipeline) identity(app *v1.Application, rules *policy.Rules) string {
	if sa := rules.ServiceAccount(app, pl.defaultSA); sa != "" {
		return kube.ServiceAccountUser(app.Namespace, sa)
	}
	return ""
}

// renderNewest fetches the newest commit of the followed ref (reusing a
// resolution up to maxAge old), verifies it and renders it.
func (pl *Pipeline) renderNewest(ctx context.Context, p *pass.Pass, rules *policy.Rules, maxAge time.Duration) (*render.Result, error) {
	app := p.Application
	// source
	snap, err := pl.fetch(ctx, app, p.Identity, maxAge)
	if err != nil {
		return nil, err
	}
	p.Commit, p.Resolved = &snap.Commit, snap.Resolved

	// verify: signatures, then the approvals they vouch for
	if p.Verified, err = pl.verifyRevision(ctx, app, p.Identity, rules, snap); err != nil {
		if err := p.NoteUnmet(err); err != nil {
			return nil, err
		}
	}
	if p.Approvers, err = pl.checkApprovals(ctx, rules, snap); err != nil {
		if err := p.NoteUnmet(err); err != nil {
			return nil, err
		}
	}
	if err := pl.checkDescent(p, rules, snap); err != nil {
		if err := p.NoteUnmet(err); err != nil {
			return nil, err
		}
	}

	// render
	opts, secrets, err := pl.renderOptions(ctx, app, p.Identity)
	p.Secrets = secrets
	if err != nil {
		return nil, stageError(v1.ReasonRenderFailed, isTransientAPIError(err), err)
	}
	opts.Tenant = app.Namespace + "/" + app.Name
	// A previewed revision nobody has signed is rendered without the
	// decryption keys: whoever pushed it could copy a short decrypted value
	// (too short to scrub) into an object the diff shows.
	keysWithheld := p.Revision != "" && p.Verified == nil && opts.AgeIdentities != ""
	if keysWithheld {
		opts.AgeIdentities = ""
	}
	rendered, err := pl.renders.Render(ctx, snap.Files, snap.Commit.Hash, app.Spec.Source.Path, opts)
	if err != nil {
		if len(secrets) > 0 {
			err = withheld(err, app.Spec.Source.Path)
		}
		if keysWithheld && errors.Is(err, render.ErrNoDecryptionKey) {
			err = fmt.Errorf("%w (a preview decrypts SOPS files only for a revision whose signature verified: this one's did not, or the Application verifies none)", err)
		}
		return nil, stageError(v1.ReasonRenderFailed, false, err)
	}
	return rendered, nil
}

func stageError(reason string, transient bool, err error) *pass.StageError {
	return &pass.StageError{Reason: reason, Transient: transient, Err: err}
}

// asStageError is err as a stage failure; an error of no stage is PlanFailed.
func asStageError(err error) *pass.StageError {
	se := &pass.StageError{}
	if errors.As(err, &se) {
		return se
	}
	return stageError(v1.ReasonPlanFailed, isTransientAPIError(err), err)
}

// checkDescent marks a revision that does not descend from the one last
// applied as a rollback, and lets the Project refuse it. The revision was
// verified and approved like any other before this.
func (pl *Pipeline) checkDescent(p *pass.Pass, rules *policy.Rules, snap *source.Snapshot) error {
	last := p.Application.Status.LastAppliedRevision
	if last == nil || last.Commit == "" || last.Commit == snap.Commit.Hash {
		return nil
	}
	descends, err := snap.Descends(last.Commit)
	why := "it is not in its history"
	switch {
	case errors.Is(err, source.ErrUnknownDescent):
		// Not known to be a rollback (the source moved, a shallow cache):
		// not recorded as one, but a Project that refuses rollbacks fails closed.
		if err := rules.CheckRollback(last.Commit, snap.Commit.Hash, err.Error()); err != nil {
			return stageError(v1.ReasonPolicyDenied, false, err)
		}
		return nil
	case err != nil:
		return stageError(v1.ReasonSourceFailed, false, err)
	case descends:
		return nil
	}
	p.Rollback = true
	if err := rules.CheckRollback(last.Commit, snap.Commit.Hash, why); err != nil {
		return stageError(v1.ReasonPolicyDenied, false, err)
	}
	return nil
}

// withheld replaces a failed render whose inputs held Secret values (Helm
// values from Secrets) by the folder that failed: a template writes its own
// failure's text, and the file names and locations it renders too, and could
// print a value in any form there (b64enc twice, in hex, split into
// letters). Limits the controller set keep their text, which no template
// wrote.
func withheld(err error, dir string) error {
	if errors.Is(err, render.ErrLimit) {
		return err
	}
	return &render.Error{File: dir, Err: errors.New("the chart failed to render; its message is withheld because the chart's values include Secrets (valuesFrom), which a template could print in any form: render the chart with those values where you may see them (`lockstep build PATH --values FILE`) to read it")}
}
