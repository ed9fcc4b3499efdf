package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// keyRingTTL is how long trusted keys read from a Secret or ConfigMap are
// reused: every pass verifies, but the keys are read at most this often, and a
// removed key stops being trusted within this time.
const keyRingTTL = 30 * time.Second

// verification is the verification an Application is held to: its Project's,
// else its own, else none (nil). A Project's key sources default to the
// controller's namespace; an Application's must be in its own.
func (r *Reconciler) verification(app *v1.Application, rules *policy.Rules) (*v1.Verification, string, error) {
	if v := rules.Spec().Verification; v != nil {
		return v, r.Namespace, nil
	}
	v := app.Spec.Source.Git.Verify
	if v == nil {
		return nil, "", nil
	}
	for _, k := range v.KeysFrom {
		if k.Namespace != "" && k.Namespace != app.Namespace {
			return nil, "", &StageError{Reason: v1.ReasonInvalidSpec,
				Err: fmt.Errorf("spec.source.git.verify: keys in namespace %s: an Application reads keys from its own namespace only (a Project may name others)", k.Namespace)}
		}
	}
	return v, app.Namespace, nil
}

// verifyRevision checks the signatures the verification mode asks for: the
// commit, the annotated tag, or both. It returns the key that signed the
// commit (or the tag, when only the tag is checked).
func (r *Reconciler) verifyRevision(ctx context.Context, app *v1.Application, rules *policy.Rules, snap *source.Snapshot) (*verify.Result, error) {
	v, ns, err := r.verification(app, rules)
	if err != nil || v == nil {
		return nil, err
	}
	fail := func(err error) (*verify.Result, error) {
		return nil, &StageError{Reason: v1.ReasonVerificationFailed, Err: err}
	}
	keys, err := r.keyRing(ctx, ns, v.KeysFrom)
	if err != nil {
		var se *StageError
		if errors.As(err, &se) {
			return nil, err
		}
		return fail(err)
	}
	mode := v.Mode
	if mode == "" {
		mode = v1.VerifyHead
	}
	var res *verify.Result
	if mode == v1.VerifyTag || mode == v1.VerifyTagAndHead {
		if snap.Tag == nil {
			return fail(fmt.Errorf("verification mode %s needs an annotated tag, and %s is not one (follow a tag or a semver range)", mode, refName(snap.Commit)))
		}
		got, err := keys.Verify(snap.Tag.SignedPayload, snap.Tag.Signature)
		if err != nil {
			return fail(fmt.Errorf("tag %s: %w", snap.Tag.Name, err))
		}
		// The signature covers the name inside the tag object, not the ref
		// it is published under: a signed v1.0.0 pushed again as v9.0.0
		// would otherwise roll back whoever follows the newest tag.
		if published := strings.TrimPrefix(snap.Commit.Ref, "refs/tags/"); snap.Tag.Name != published {
			return fail(fmt.Errorf("tag %s is the signed tag %s published under another name; refused", published, snap.Tag.Name))
		}
		res = &got
	}
	if mode == v1.VerifyHead || mode == v1.VerifyTagAndHead {
		got, err := keys.Verify(snap.Commit.SignedPayload, snap.Commit.Signature)
		if err != nil {
			return fail(fmt.Errorf("commit %s: %w", shortHash(snap.Commit.Hash), err))
		}
		res = &got
	}
	return res, nil
}

// checkApprovals applies the Project's two-person rule to the commit. The
// trailers count only when the commit is signed by one of the approval keys
// (never merely by a verification key, which a developer may hold).
func (r *Reconciler) checkApprovals(ctx context.Context, rules *policy.Rules, commit source.Commit) ([]string, error) {
	a := rules.Spec().Approvals
	if a == nil {
		return nil, nil
	}
	if len(a.KeysFrom) == 0 {
		return nil, &StageError{Reason: v1.ReasonPolicyDenied,
			Err: fmt.Errorf("project %s: spec.approvals needs spec.approvals.keysFrom, the keys that sign approved commits", rules.Project)}
	}
	keys, err := r.keyRing(ctx, r.Namespace, a.KeysFrom)
	if err != nil {
		return nil, &StageError{Reason: v1.ReasonPolicyDenied, Err: err}
	}
	trailer := a.Trailer
	if trailer == "" {
		trailer = "Approved-by"
	}
	signer, verr := keys.Verify(commit.SignedPayload, commit.Signature)
	approvers, err := rules.CheckApprovals(policy.Approval{
		Author: commit.Author, Approvers: commit.TrailerValues(trailer), TrustedSignature: verr == nil, Signer: signer.String(),
	})
	if err != nil {
		if verr != nil {
			err = fmt.Errorf("%w (commit %s: %w)", err, shortHash(commit.Hash), verr)
		}
		return nil, &StageError{Reason: v1.ReasonPolicyDenied, Err: err}
	}
	return approvers, nil
}

func refName(c source.Commit) string {
	if c.Ref == "" {
		return "commit " + shortHash(c.Hash)
	}
	return c.Ref
}

// keyRing reads the trusted keys of the sources (namespace is the default for
// sources that name none), reusing a reading younger than keyRingTTL.
func (r *Reconciler) keyRing(ctx context.Context, namespace string, sources []v1.KeySource) (*verify.KeyRing, error) {
	return r.keys.get(keySourcesID(namespace, sources), r.now(), keyRingTTL, func() (*verify.KeyRing, error) {
		keys := &verify.KeyRing{}
		for _, src := range sources {
			ns := src.Namespace
			if ns == "" {
				ns = namespace
			}
			data, err := r.keyData(ctx, src.Kind, ns, src.Name)
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(data))
			for k := range data {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if err := keys.Add(fmt.Sprintf("%s %s/%s key %q", kindOrSecret(src.Kind), ns, src.Name, k), data[k]); err != nil {
					return nil, err
				}
			}
		}
		return keys, nil
	})
}

// keyData reads every entry of a Secret or ConfigMap of keys.
func (r *Reconciler) keyData(ctx context.Context, kind, namespace, name string) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	out := map[string][]byte{}
	if kindOrSecret(kind) == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		if err := r.Client.Get(ctx, key, cm); err != nil {
			return nil, keyReadError("ConfigMap", key, err)
		}
		for k, v := range cm.Data {
			out[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			out[k] = v
		}
		return out, nil
	}
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, key, s); err != nil {
		return nil, keyReadError("Secret", key, err)
	}
	return s.Data, nil
}

func keyReadError(kind string, key types.NamespacedName, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the trusted keys' %s %s does not exist", kind, key)
	}
	return fmt.Errorf("reading the trusted keys' %s %s: %w", kind, key, err)
}

func kindOrSecret(kind string) string {
	if kind == "" {
		return "Secret"
	}
	return kind
}

func keySourcesID(namespace string, sources []v1.KeySource) string {
	parts := make([]string, len(sources))
	for i, s := range sources {
		ns := s.Namespace
		if ns == "" {
			ns = namespace
		}
		parts[i] = kindOrSecret(s.Kind) + "/" + ns + "/" + s.Name
	}
	return strings.Join(parts, ";")
}
