package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// projectRules returns the rules of the Application's Project. A missing
// "default" Project means the built-in default, unless Projects are required;
// any other missing Project is a denial (the Application is checked again
// when it appears).
func (pl *Pipeline) projectRules(ctx context.Context, app *v1.Application) (*policy.Rules, error) {
	name := projectName(app)
	p := &v1.Project{}
	err := pl.reader.Get(ctx, types.NamespacedName{Name: name}, p)
	switch {
	case apierrors.IsNotFound(err) && name == v1.DefaultProject && !pl.requireProjects:
		return policy.Permissive(), nil
	case apierrors.IsNotFound(err) && name == v1.DefaultProject:
		return nil, stageError(v1.ReasonPolicyDenied, false, fmt.Errorf("project %s does not exist, and this controller requires Projects (--require-projects): create it, or name a Project in spec.project", name))
	case apierrors.IsNotFound(err):
		return nil, stageError(v1.ReasonPolicyDenied, false, fmt.Errorf("project %s does not exist", name))
	case err != nil:
		return nil, stageError(v1.ReasonPolicyDenied, true, fmt.Errorf("reading project %s: %w", name, err))
	}
	rules, err := policy.Compile(p)
	if err != nil {
		return nil, stageError(v1.ReasonPolicyDenied, false, err)
	}
	return rules, nil
}

func projectName(app *v1.Application) string {
	if app.Spec.Project == "" {
		return v1.DefaultProject
	}
	return app.Spec.Project
}

// specChangeMaxAge is how old a resolution may be for an Application whose spec
// just changed: fresh enough to see what was pushed before the change, old
// enough that 500 Applications changed at once share one look at the repository.
const specChangeMaxAge = 5 * time.Second

// sourceMaxAge is how old a resolution of the followed ref a pass at now may
// reuse. None when a refresh or a sync was asked for: each must see what was
// pushed before it. On the first pass, only one that started after the
// Application was created (its creation time has whole seconds: one more is
// allowed for), so a new Application sees what was pushed before it, while
// many created together still share a few looks at the repository. After a
// spec change, specChangeMaxAge; else periodicMaxAge (at most the interval).
func sourceMaxAge(app *v1.Application, now time.Time) time.Duration {
	refresh := app.Annotations[v1.AnnotationReconcileRequestedAt] != app.Status.LastHandledReconcileAt
	switch {
	case refresh || pass.ManualSyncPending(app):
		return 0
	case app.Status.ObservedGeneration == 0:
		return max(0, now.Sub(app.CreationTimestamp.Add(time.Second)))
	case app.Generation != app.Status.ObservedGeneration:
		return specChangeMaxAge
	}
	return min(periodicMaxAge, app.Spec.Sync.IntervalOrDefault())
}

// periodicMaxAge is how old a resolution a periodic pass may reuse. A pass
// sees what was pushed periodicMaxAge before it, so a commit is applied
// within the interval plus periodicMaxAge (were it the interval, a pass could
// reuse another Application's look from just before the push, and the commit
// wait a second interval); Applications whose passes fall within it still
// share one look at their repository.
const periodicMaxAge = 2 * time.Second

// fetch resolves the followed ref and returns its snapshot; the credentials
// are read as user, the Application's identity.
func (pl *Pipeline) fetch(ctx context.Context, app *v1.Application, user string, maxAge time.Duration) (*source.Snapshot, error) {
	git := app.Spec.Source.Git
	req := source.Request{
		URL: git.URL, Ref: source.Ref{Branch: git.Ref.Branch, Tag: git.Ref.Tag, Semver: git.Ref.Semver, Commit: git.Ref.Commit},
		Credentials:   func(ctx context.Context) (source.Auth, error) { return pl.credentials(ctx, app, user) },
		CredentialsID: credentialsID(app, user),
	}
	ctx, cancel := context.WithTimeoutCause(ctx, pl.fetchTimeout, source.ErrFetchTimedOut)
	defer cancel()
	started := time.Now()
	snap, err := pl.sources.Fetch(ctx, req, source.FetchOptions{MaxAge: maxAge})
	if !errors.Is(err, source.ErrHostBusy) { // passed over, not a fetch
		observeFetch(git.URL, started, snap, err)
	}
	if err != nil {
		var se *source.Error
		return nil, stageError(v1.ReasonSourceFailed, errors.As(err, &se) && se.Transient, err)
	}
	return snap, nil
}

// Keys of the Secrets an Application's source names.
const (
	keyUsername   = "username"
	keyPassword   = "password"
	keyIdentity   = "identity"
	keyKnownHosts = "known_hosts"
	keyCA         = "ca.crt"
)

// credentials reads the source's Secrets from the Application's namespace, as
// user (the Application's identity): an Application may name only Secrets its
// service account may read, never another team's in the same namespace. The
// values go to the source stage only; errors name the Secret and key, never a
// value.
func (pl *Pipeline) credentials(ctx context.Context, app *v1.Application, user string) (source.Auth, error) {
	var auth source.Auth
	git := app.Spec.Source.Git
	if ref := git.SecretRef; ref != nil {
		data, err := pl.readAs(ctx, user, "Secret", app.Namespace, ref.Name)
		if err != nil {
			return auth, fmt.Errorf("spec.source.git.secretRef: %w", err)
		}
		auth.Username, auth.Password = string(data[keyUsername]), string(data[keyPassword])
		auth.SSHPrivateKey, auth.KnownHosts = data[keyIdentity], data[keyKnownHosts]
		if auth.Password == "" && len(auth.SSHPrivateKey) == 0 {
			return auth, fmt.Errorf("the Secret %s/%s has neither %q (HTTPS) nor %q (SSH)", app.Namespace, ref.Name, keyPassword, keyIdentity)
		}
	}
	if ref := git.CASecretRef; ref != nil {
		data, err := pl.readAs(ctx, user, "Secret", app.Namespace, ref.Name)
		if err != nil {
			return auth, fmt.Errorf("spec.source.git.caSecretRef: %w", err)
		}
		if auth.CABundle = data[keyCA]; len(auth.CABundle) == 0 {
			return auth, fmt.Errorf("the Secret %s/%s has no %q", app.Namespace, ref.Name, keyCA)
		}
	}
	return auth, nil
}

// credentialsID names the Secrets the credentials come from and the identity
// that reads them, so that a fresh resolution of the repository is shared only
// by Applications that read it with the same Secrets as the same identity (and
// is answered without reading them again): one whose service account may not
// read the Secret never sees what another's could fetch.
func credentialsID(app *v1.Application, user string) string {
	git := app.Spec.Source.Git
	if git.SecretRef == nil && git.CASecretRef == nil {
		return "" // nothing is read: every Application shares the public resolution
	}
	id := "as=" + user
	if ref := app.Spec.Source.Git.SecretRef; ref != nil {
		id += ";secret=" + app.Namespace + "/" + ref.Name
	}
	if ref := app.Spec.Source.Git.CASecretRef; ref != nil {
		id += ";ca=" + app.Namespace + "/" + ref.Name
	}
	return id
}
