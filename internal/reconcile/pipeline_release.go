package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// RollbackOptions say what a rollback returns to, who asks and why.
type RollbackOptions struct {
	// To is release.Previous, a full hash, or a prefix of a revision the
	// Application applied recently (release.Target).
	To string
	// By is who asks; Reason why.
	By, Reason string
	// Include are folders outside the Application's path, which its render
	// reads and which changed since To, to restore knowingly (other
	// Applications may read them).
	Include []string
	// PathOnly restores the Application's path alone, whatever its render
	// reads.
	PathOnly bool
	// DryRun computes the commit and pushes nothing.
	DryRun bool
}

// keySigningKey is the entry of a gitWrite signing Secret with the key.
const keySigningKey = "signing.key"

// Rollback writes a commit that returns app's folders to a revision it ran
// before (release.WriteRollback), with the Project's write access. It
// restores every folder the render reads at that revision and now, so a
// Kustomize base comes back with its overlay. It changes nothing in the
// cluster: the commit is applied like any other, once it reaches the
// followed branch (at once with push: Direct, after review otherwise).
// The caller puts the returned Hold on the Application.
func (pl *Pipeline) Rollback(ctx context.Context, app *v1.Application, opts RollbackOptions) (release.RollbackResult, error) {
	to, err := release.Target(app, opts.To)
	if err != nil {
		return release.RollbackResult{}, err
	}
	branch, err := followedBranch(app)
	if err != nil {
		return release.RollbackResult{}, err
	}
	access, project, err := pl.writeAccess(ctx, app)
	if err != nil {
		return release.RollbackResult{}, err
	}
	if err := pl.checkTarget(ctx, app, to); err != nil {
		return release.RollbackResult{}, err
	}
	folders, err := pl.renderedFolders(ctx, app, branch, to, opts)
	if err != nil {
		return release.RollbackResult{}, err
	}
	applied := ""
	if r := app.Status.LastAppliedRevision; r != nil {
		applied = r.Commit
	}
	return release.WriteRollback(ctx, reviewedIfApproved(access, project), release.Rollback{
		Application: app.Namespace + "/" + app.Name, Branch: branch, To: to, Applied: applied,
		Folders: folders, Own: app.Spec.Source.Path, Include: opts.Include, DryRun: opts.DryRun,
		By: opts.By, Reason: opts.Reason, Now: pl.now(),
	}, gitwrite.Options{Now: pl.now})
}

// reviewedIfApproved sends commits for review when the Project requires
// approvals, whatever its push setting: a commit Lockstep pushes directly
// carries none, and would be refused.
func reviewedIfApproved(a release.Access, project *v1.Project) release.Access {
	if p := project.Spec.Approvals; p != nil && p.Required > 0 {
		a.Push = v1.GitPushBranch
	}
	return a
}

// checkTarget refuses a rollback to a revision that would not be applied
// today: its signature and approvals are checked under the Project's
// rules as they are now. Lockstep signs the rollback commit with a trusted
// key, so without this it would launder content that was never verified.
func (pl *Pipeline) checkTarget(ctx context.Context, app *v1.Application, rev string) error {
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return err
	}
	at := app.DeepCopy()
	at.Spec.Source.Git.Ref = v1.GitRef{Commit: rev}
	user := pl.identity(app, rules)
	snap, err := pl.fetch(ctx, at, user, 0)
	if err != nil {
		return err
	}
	why := func(err error) error {
		return fmt.Errorf("%s would not be applied today, so a rollback may not return to it: %w", short(rev), err)
	}
	if _, err := pl.verifyRevision(ctx, app, user, rules, snap); err != nil {
		return why(err)
	}
	if _, err := pl.checkApprovals(ctx, rules, snap); err != nil {
		return why(err)
	}
	return nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// followedBranch is the branch app follows: a rollback or a promotion is a
// commit on it. An Application that follows a tag, a version range or a
// commit moves by pointing it elsewhere, not by a commit.
func followedBranch(app *v1.Application) (string, error) {
	ref := app.Spec.Source.Git.Ref
	switch {
	case ref.Branch != "":
		return ref.Branch, nil
	case ref.Tag != "" || ref.Semver != "" || ref.Commit != "":
		return "", fmt.Errorf("%s/%s follows %s, not a branch: return it to an older version by pointing spec.source.git.ref at it", app.Namespace, app.Name, source.Ref{Tag: ref.Tag, Semver: ref.Semver, Commit: ref.Commit})
	}
	if r := app.Status.LastAppliedRevision; r != nil && strings.HasPrefix(r.Ref, "refs/heads/") {
		return strings.TrimPrefix(r.Ref, "refs/heads/"), nil
	}
	return "", fmt.Errorf("%s/%s follows the repository's default branch and has applied nothing yet: name the branch in spec.source.git.ref.branch", app.Namespace, app.Name)
}

// writeAccess is the Project's gitWrite for app, its Secrets read as the
// controller from the controller's namespace (they must be labelled for
// it), and the Project. An Application that requires signatures needs a
// signing key.
func (pl *Pipeline) writeAccess(ctx context.Context, app *v1.Application) (a release.Access, project *v1.Project, err error) {
	name := projectName(app)
	project = &v1.Project{}
	if err := pl.reader.Get(ctx, types.NamespacedName{Name: name}, project); err != nil {
		return release.Access{}, nil, fmt.Errorf("reading project %s: %w", name, err)
	}
	// The repository and destination the Project allows, before any Secret
	// is read: the write credentials go only to a repository the Project
	// names.
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return release.Access{}, nil, err
	}
	if err := rules.CheckApplication(app); err != nil {
		return release.Access{}, nil, err
	}
	w := project.Spec.GitWrite
	if w == nil {
		return release.Access{}, nil, fmt.Errorf("project %s has no spec.gitWrite, so Lockstep may not write to Git for it: set it (docs/environments.md), or revert the commits yourself", name)
	}
	clients, err := pl.clients.As("")
	if err != nil {
		return release.Access{}, nil, err
	}
	reader, err := clients.Reader()
	if err != nil {
		return release.Access{}, nil, err
	}
	data, err := kube.ReadMarkedSecret(ctx, reader, pl.namespace, w.SecretRef.Name, v1.SecretUseGitWrite)
	if err != nil {
		return release.Access{}, nil, fmt.Errorf("project %s spec.gitWrite.secretRef: %w", name, err)
	}
	a = release.Access{URL: app.Spec.Source.Git.URL, Push: w.Push, AuthorName: w.AuthorName, AuthorEmail: w.AuthorEmail,
		Auth: source.Auth{Username: string(data[keyUsername]), Password: string(data[keyPassword]), SSHPrivateKey: data[keyIdentity],
			KnownHosts: data[keyKnownHosts], CABundle: data[keyCA]}}
	if a.Auth.Password == "" && len(a.Auth.SSHPrivateKey) == 0 {
		return release.Access{}, nil, fmt.Errorf("project %s spec.gitWrite.secretRef: the Secret %s/%s has neither %q (HTTPS) nor %q (SSH)", name, pl.namespace, w.SecretRef.Name, keyPassword, keyIdentity)
	}
	verification, _, _, err := rules.Verification(app, pl.namespace)
	if err != nil {
		return release.Access{}, nil, err
	}
	if w.SigningKeySecretRef == nil {
		if verification != nil {
			return release.Access{}, nil, fmt.Errorf("%s/%s requires signed commits, and project %s has no spec.gitWrite.signingKeySecretRef: set one, and trust its public key", app.Namespace, app.Name, name)
		}
		return a, project, nil
	}
	keyData, err := kube.ReadMarkedSecret(ctx, reader, pl.namespace, w.SigningKeySecretRef.Name, v1.SecretUseGitWrite)
	if err != nil {
		return release.Access{}, nil, fmt.Errorf("project %s spec.gitWrite.signingKeySecretRef: %w", name, err)
	}
	key, err := gitwrite.ParseSigningKey(keyData[keySigningKey])
	if err != nil {
		return release.Access{}, nil, fmt.Errorf("project %s spec.gitWrite.signingKeySecretRef: the Secret's %q: %w", name, keySigningKey, err)
	}
	a.Signer = key
	return a, project, nil
}

// renderedFolders are the folders a render of app reads at the head of
// branch and at rev, with its path: what a rollback to rev restores. When
// neither render succeeds (rev may not render with today's chart; an
// unsigned revision's SOPS files are not decrypted), which folders it reads
// is not known: that is an error unless the caller named them (include) or
// asked for the path alone. A render that reads the repository's root is
// refused: restoring it would revert every Application of the repository.
func (pl *Pipeline) renderedFolders(ctx context.Context, app *v1.Application, branch, rev string, opts RollbackOptions) ([]string, error) {
	folders := map[string]bool{path.Clean(app.Spec.Source.Path): true}
	known := false
	var last error
	for _, r := range []source.Ref{{Branch: branch}, {Commit: rev}} {
		p, err := pl.Preview(ctx, app, PreviewOptions{Revision: &r})
		if p != nil && p.Rendered != nil {
			known = true
			for _, in := range p.Rendered.Inputs {
				folders[path.Clean(in)] = true
			}
			continue
		}
		var se *pass.StageError
		if errors.As(err, &se) && se.Transient {
			return nil, err
		}
		last = err
	}
	if !known && !opts.PathOnly && len(opts.Include) == 0 {
		return nil, fmt.Errorf("%s/%s does not render at %s nor at the head of %s, so which folders it reads is not known (%v): name those to restore with --include, or restore its path alone with --path-only", app.Namespace, app.Name, short(rev), branch, last)
	}
	if opts.PathOnly {
		folders = map[string]bool{path.Clean(app.Spec.Source.Path): true}
	}
	for _, in := range opts.Include {
		folders[path.Clean(strings.Trim(in, "/"))] = true
	}
	delete(folders, "")
	if folders["."] {
		return nil, fmt.Errorf("%s/%s's render reads files at the repository's root: a rollback by folders cannot restore them without reverting every Application of the repository; revert the commits yourself", app.Namespace, app.Name)
	}
	out := make([]string, 0, len(folders))
	for f := range folders {
		out = append(out, f)
	}
	return out, nil
}

// PromoteOptions say who promotes and why, and the source's ledger record
// of the promoted revision when the caller can read the ledger.
type PromoteOptions struct {
	By, Reason string
	// Ledger names the source's ledger record of its sync of revision
	// ("#41 <hash>"), "" when unknown: the trailer is then left out. Nil:
	// never known (no ledger here).
	Ledger func(ctx context.Context, source, revision string) string
	// DryRun computes the commit and pushes nothing.
	DryRun bool
}

// Promote writes, as a commit on target's branch (or a new branch for
// review), the copy its spec.promotion names of what the source
// Application runs, once every gate passes (release.CheckGates). Nothing in
// the cluster changes except by that commit.
func (pl *Pipeline) Promote(ctx context.Context, target *v1.Application, opts PromoteOptions) (release.PromotionResult, error) {
	pr := target.Spec.Promotion
	if pr == nil {
		return release.PromotionResult{}, fmt.Errorf("%s/%s has no spec.promotion: name the Application it is promoted from and what to copy (docs/environments.md)", target.Namespace, target.Name)
	}
	source := &v1.Application{}
	if err := pl.reader.Get(ctx, types.NamespacedName{Namespace: target.Namespace, Name: pr.From}, source); err != nil {
		return release.PromotionResult{}, fmt.Errorf("spec.promotion.from: %w", err)
	}
	branch, err := followedBranch(target)
	if err != nil {
		return release.PromotionResult{}, err
	}
	access, project, err := pl.writeAccess(ctx, target)
	if err != nil {
		return release.PromotionResult{}, err
	}
	approvals := int32(0)
	if a := project.Spec.Approvals; a != nil {
		approvals = a.Required
	}
	if err := release.CheckGates(pr.Gates, release.Gate{Source: source, Target: target, TargetApprovals: approvals, Now: pl.now()}); err != nil {
		return release.PromotionResult{}, fmt.Errorf("promoting %s/%s into %s/%s: %w", source.Namespace, source.Name, target.Namespace, target.Name, err)
	}
	// The source's repository must be one the target's Project allows: its
	// values go into the target with the target's write access.
	targetRules, err := pl.projectRules(ctx, target)
	if err != nil {
		return release.PromotionResult{}, err
	}
	probe := target.DeepCopy()
	probe.Spec.Source.Git.URL = source.Spec.Source.Git.URL
	if err := targetRules.CheckApplication(probe); err != nil {
		return release.PromotionResult{}, fmt.Errorf("%s/%s's Project does not allow the repository %s/%s comes from, so nothing of it is promoted into it: %w", target.Namespace, target.Name, source.Namespace, source.Name, err)
	}
	revision := source.Status.LastAppliedRevision.Commit
	snap, files, err := pl.folderAt(ctx, source, revision)
	if err != nil {
		return release.PromotionResult{}, err
	}
	// What the source runs passed the source's checks; the target may ask
	// more (signatures dev does not require). Lockstep signs the promotion
	// with a key the target trusts, so a revision that fails the target's
	// checks goes to review whatever the Project's push setting.
	review, reviewWhy := pr.Gates.Approvals > 0, ""
	if _, err := pl.verifyRevision(ctx, target, pl.identity(target, targetRules), targetRules, snap); err != nil {
		review, reviewWhy = true, err.Error()
	}
	ledger := ""
	if opts.Ledger != nil {
		ledger = opts.Ledger(ctx, source.Namespace+"/"+source.Name, revision)
	}
	return release.WritePromotion(ctx, reviewedIfApproved(access, project), release.Promotion{
		Source: source.Namespace + "/" + source.Name, Target: target.Namespace + "/" + target.Name,
		Revision: revision, SourceFiles: files, TargetPath: target.Spec.Source.Path, Branch: branch,
		Copy: pr.Copy, Ledger: ledger, Review: review, ReviewBecause: reviewWhy, By: opts.By, Reason: opts.Reason, Now: pl.now(), DryRun: opts.DryRun,
	}, gitwrite.Options{Now: pl.now})
}

// folderAt is app's folder at rev, fetched with app's own credentials as
// its identity (what it runs), and the snapshot it comes from.
func (pl *Pipeline) folderAt(ctx context.Context, app *v1.Application, rev string) (*source.Snapshot, fs.FS, error) {
	rules, err := pl.projectRules(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	at := app.DeepCopy()
	at.Spec.Source.Git.Ref = v1.GitRef{Commit: rev}
	snap, err := pl.fetch(ctx, at, pl.identity(app, rules), 0)
	if err != nil {
		return nil, nil, fmt.Errorf("reading what %s/%s runs: %w", app.Namespace, app.Name, err)
	}
	dir := path.Clean(app.Spec.Source.Path)
	if dir == "" || dir == "/" {
		dir = "."
	}
	sub, err := fs.Sub(snap.Files, dir)
	return snap, sub, err
}
