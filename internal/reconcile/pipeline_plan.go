package reconcile

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// ownershipClaims are the desired objects whose live copies name another
// Application as owner, with whether that Application still lists them (the
// rule is policy.CheckOwnership's).
func (pl *Pipeline) ownershipClaims(ctx context.Context, me string, desired []*unstructured.Unstructured, current map[object.Key]*unstructured.Unstructured) []policy.Claim {
	var claims []policy.Claim
	for _, o := range desired {
		k := object.KeyOf(o)
		live := current[k]
		if live == nil {
			continue
		}
		owner := object.Owner(live)
		ns, name, ok := strings.Cut(owner, "/")
		if owner == "" || owner == me || !ok {
			continue
		}
		c := policy.Claim{Key: k, Owner: owner}
		other := &v1.Application{}
		if err := pl.reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, other); err == nil {
			c.Listed = other.Status.Manages(k.Group, k.Kind, k.Namespace, k.Name)
		} // gone (or unreadable): nobody else manages it
		claims = append(claims, c)
	}
	return claims
}

func ignoreRules(app *v1.Application) []plan.IgnoreRule {
	var rules []plan.IgnoreRule
	for _, d := range app.Spec.Sync.IgnoreDifferences {
		rules = append(rules, plan.IgnoreRule{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Pointers: d.JSONPointers})
	}
	return rules
}

func inventoryFrom(refs []v1.ObjectReference) []plan.InventoryEntry {
	inv := make([]plan.InventoryEntry, len(refs))
	for i, r := range refs {
		inv[i] = plan.InventoryEntry{Key: object.Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}, Version: r.Version}
	}
	return inv
}

func isTransientAPIError(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || errors.Is(err, context.DeadlineExceeded) ||
		// The API server restarting or out of reach: the connection refused,
		// reset or cut mid-answer. Retried, it works once the server is back.
		utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) && netErr.Timeout()
}
