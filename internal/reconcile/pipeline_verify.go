package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// keyRingTTL is how long trusted keys read from a Secret or ConfigMap are
// reused: every pass verifies, but the keys are read at most this often, and a
// removed key stops being trusted within this time.
const keyRingTTL = 30 * time.Second

// verifyRevision checks the signatures the Application is held to (see
// policy.Rules.Verification and verify.Revision). It returns the key that
// signed, nil when no signature is required.
//
// A Project's keys are the platform's and are read as the controller; an
// Application's own (in its namespace) as its identity, user.
func (pl *Pipeline) verifyRevision(ctx context.Context, app *v1.Application, user string, rules *policy.Rules, snap *source.Snapshot) (*verify.Result, error) {
	v, ns, fromProject, err := rules.Verification(app, pl.namespace)
	if err != nil {
		return nil, stageError(v1.ReasonInvalidSpec, false, err)
	}
	if v == nil {
		return nil, nil
	}
	keys, err := pl.keyRing(ctx, "the trusted keys", !fromProject, user, ns, v.KeysFrom)
	if err != nil {
		return nil, stageError(v1.ReasonVerificationFailed, false, err)
	}
	res, err := verify.Revision(keys, v.Mode, snap)
	if err != nil {
		return nil, stageError(v1.ReasonVerificationFailed, false, err)
	}
	return &res, nil
}

// checkApprovals applies the Project's two-person rule to the snapshot's
// commit: its trailers count only when it is signed by one of the approval
// keys.
func (pl *Pipeline) checkApprovals(ctx context.Context, rules *policy.Rules, snap *source.Snapshot) ([]string, error) {
	commit := snap.Commit
	required, sources, trailer, err := rules.Approvals()
	if !required || err != nil {
		if err != nil {
			err = stageError(v1.ReasonPolicyDenied, false, err)
		}
		return nil, err
	}
	keys, err := pl.keyRing(ctx, "the approval keys (spec.approvals.keysFrom)", false, "", pl.namespace, sources)
	if err != nil {
		return nil, stageError(v1.ReasonPolicyDenied, false, err)
	}
	signer, verr := keys.Verify(commit.SignedPayload, commit.Signature)
	approvers, err := rules.CheckApprovals(policy.Approval{
		Author: commit.Author, Approvers: commit.TrailerValues(trailer), TrustedSignature: verr == nil, Signer: signer.String(),
		Requesters: requesters(snap),
	})
	if err != nil {
		if verr != nil {
			err = fmt.Errorf("%w (commit %s: %w)", err, commit.Short(), verr)
		}
		return nil, stageError(v1.ReasonPolicyDenied, false, err)
	}
	return approvers, nil
}

// keyRing reads the keys of the sources (namespace is the default for sources
// that name none): an Application's own (tenant) as its identity user, a
// Project's as the controller. A reading younger than keyRingTTL by the same
// reader is reused; what names the keys in errors.
func (pl *Pipeline) keyRing(ctx context.Context, what string, tenant bool, user, namespace string, sources []v1.KeySource) (*verify.KeyRing, error) {
	if !tenant {
		user = ""
	}
	return pl.keys.get(fmt.Sprintf("tenant=%v;as=%s;%s", tenant, user, keySourcesID(namespace, sources)), pl.now(), keyRingTTL, func() (*verify.KeyRing, error) {
		keys := &verify.KeyRing{}
		for _, src := range sources {
			ns := cmp.Or(src.Namespace, namespace)
			read := pl.read
			if tenant {
				read = pl.readAs
			}
			data, err := read(ctx, user, src.Kind, ns, src.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			names := make([]string, 0, len(data))
			for k := range data {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if err := keys.Add(fmt.Sprintf("%s %s/%s key %q", cmp.Or(src.Kind, "Secret"), ns, src.Name, k), data[k]); err != nil {
					return nil, err
				}
			}
		}
		return keys, nil
	})
}

func keySourcesID(namespace string, sources []v1.KeySource) string {
	parts := make([]string, len(sources))
	for i, s := range sources {
		parts[i] = cmp.Or(s.Kind, "Secret") + "/" + cmp.Or(s.Namespace, namespace) + "/" + s.Name
	}
	return strings.Join(parts, ";")
}

// requesters are the users who asked Lockstep for the commits the revision
// brings: named in a Lockstep-Requested-By line of its message (a squash
// merge keeps the squashed messages) or of a commit a merge brings in. They
// count as authors: their own approvals do not count.
func requesters(snap *source.Snapshot) []string {
	messages := []string{snap.Commit.Message}
	if merged, err := snap.MergedMessages(); err == nil {
		messages = append(messages, merged...)
	}
	prefix := strings.ToLower(policy.RequesterTrailer) + ":"
	var out []string
	for _, m := range messages {
		for _, line := range strings.Split(m, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(strings.ToLower(line), prefix) {
				if who := strings.TrimSpace(line[len(prefix):]); who != "" {
					out = append(out, who)
				}
			}
		}
	}
	return out
}
