package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sealedSecret is the health of a Bitnami SealedSecret (bitnami.com/v1alpha1)
// by its Synced condition, as Argo CD reads it: True once the controller
// unsealed it into a Secret, False (with the controller's error, such as "no key
// could decrypt secret") when it could not, Progressing until it has tried.
//
// The condition only counts for the current spec: the controller records the
// generation it unsealed in status.observedGeneration (Argo CD checks the same
// since it learned of stale verdicts). A controller too old to write that field
// is trusted, as kstatus trusts one.
func sealedSecret(o *unstructured.Unstructured) Result {
	st := object(o.Object, "status")
	if observed, ok := whole(field(st, "observedGeneration")); ok && observed != o.GetGeneration() {
		return result(Progressing, fmt.Sprintf("waiting for the sealed-secrets controller to unseal generation %d (status.observedGeneration %d)", o.GetGeneration(), observed))
	}
	c, ok := findCondition(st, "Synced")
	switch {
	case !ok:
		return result(Progressing, "waiting for the sealed-secrets controller to unseal it (no Synced condition yet)")
	case c.Status == "True":
		return result(Healthy, orElse(c.Message, "unsealed into a Secret"))
	case c.Status == "False":
		return result(Degraded, "cannot unseal: "+orElse(c.because(), "no reason given"))
	}
	return result(Progressing, "unsealing: Synced is "+orElse(c.Status, "empty"), c.because())
}

// externalSecret is the health of an External Secrets Operator ExternalSecret
// (external-secrets.io: v1alpha1 and v1beta1 in older releases, v1 since
// v0.16; v0.17 stopped serving v1beta1) by its Ready condition, as Argo CD
// reads it: True once the target Secret was written, False with the
// controller's reason and message (SecretSyncedError: the provider refused, the
// store is missing...) when it was not, Progressing before the first try.
//
// Beyond Argo CD, a Ready True left from an earlier spec is Progressing: the
// controller writes status.syncedResourceVersion as "<generation>-<hash of
// labels and annotations>" on each sync and refreshes at once when the
// generation moves, so a lower generation there means the new spec is not in
// the Secret yet, and a wave that needs the Secret must wait. Not with
// spec.refreshPolicy CreatedOnce, which never syncs again.
func externalSecret(o *unstructured.Unstructured) Result {
	st := object(o.Object, "status")
	c, ok := findCondition(st, "Ready")
	switch {
	case !ok:
		return result(Progressing, "waiting for the ExternalSecret to sync (no Ready condition yet)")
	case c.Status == "False":
		return result(Degraded, "cannot sync: "+orElse(c.because(), "no reason given"))
	case c.Status != "True":
		return result(Progressing, "syncing: Ready is "+orElse(c.Status, "empty"), c.because())
	}
	if str(o.Object, "spec", "refreshPolicy") != "CreatedOnce" {
		synced, _, _ := strings.Cut(str(st, "syncedResourceVersion"), "-")
		if n, ok := whole(synced); ok && n < o.GetGeneration() {
			return result(Progressing, fmt.Sprintf("waiting for the ExternalSecret to sync generation %d (last synced %d)", o.GetGeneration(), n))
		}
	}
	return result(Healthy, orElse(c.Message, "synced"))
}

// secretStore is the health of an External Secrets Operator SecretStore or
// ClusterSecretStore (same group and versions as ExternalSecret) by its Ready
// condition, as Argo CD reads it: True once the controller validated the
// provider configuration, False with why not (ValidationFailed,
// InvalidProviderConfig...), Progressing before it has tried.
func secretStore(o *unstructured.Unstructured) Result {
	c, ok := findCondition(object(o.Object, "status"), "Ready")
	switch {
	case !ok:
		return result(Progressing, "waiting for the store to be validated (no Ready condition yet)")
	case c.Status == "True":
		return result(Healthy, orElse(c.Message, "store validated"))
	case c.Status == "False":
		return result(Degraded, "store not usable: "+orElse(c.because(), "no reason given"))
	}
	return result(Progressing, "validating: Ready is "+orElse(c.Status, "empty"), c.because())
}

// certificate is the health of a cert-manager Certificate (cert-manager.io/v1;
// v1alpha2 to v1beta1 before cert-manager 1.6 have the same status) by its Ready
// and Issuing conditions: Ready True is Healthy, even while a renewal runs
// (the Secret holds a valid certificate until it ends); Ready False is
// Progressing while Issuing is True, and Degraded once an issuance failed
// (Issuing False, or status.lastFailureTime set), with the issuance's error.
//
// Two departures from Argo CD, which calls every other Ready False Degraded:
// Ready False with no Issuing condition and no failure recorded is Progressing,
// since cert-manager's readiness controller can mark a new or changed
// Certificate not ready before its trigger controller adds Issuing (Argo CD
// special-cases that race by its message); and a Ready condition computed for
// an older metadata.generation (its observedGeneration) is Progressing.
func certificate(o *unstructured.Unstructured) Result {
	st := object(o.Object, "status")
	ready, hasReady := findCondition(st, "Ready")
	issuing, hasIssuing := findCondition(st, "Issuing")
	gen := o.GetGeneration()
	switch {
	case !hasReady:
		return result(Progressing, "waiting for cert-manager to issue it (no Ready condition yet)", issuing.Message)
	case ready.hasGeneration && ready.ObservedGeneration < gen:
		return result(Progressing, fmt.Sprintf("waiting for cert-manager to check generation %d (Ready is for %d)", gen, ready.ObservedGeneration))
	case ready.Status == "True":
		renewing := ""
		if hasIssuing && issuing.Status == "True" {
			renewing = "renewing: " + issuing.Message
		}
		valid := ""
		if until := str(st, "notAfter"); until != "" {
			valid = "valid until " + until
		}
		return result(Healthy, orElse(ready.Message, "issued"), valid, renewing)
	case hasIssuing && issuing.Status == "True":
		return result(Progressing, "issuing: "+orElse(issuing.Message, ready.Message))
	case hasIssuing && issuing.Status == "False", str(st, "lastFailureTime") != "":
		return result(Degraded, "not ready: "+orElse(ready.because(), "no reason given"), certificateFailure(st, issuing, hasIssuing))
	}
	return result(Progressing, "waiting for cert-manager to start issuing: "+orElse(ready.because(), "Ready is "+ready.Status))
}

// certificateFailure is the last issuance's error and how many attempts
// failed.
func certificateFailure(st map[string]any, issuing condition, hasIssuing bool) string {
	var parts []string
	if hasIssuing && issuing.Status == "False" && issuing.Message != "" {
		parts = append(parts, "last issuance failed: "+issuing.Message)
	}
	if n := wholeOr(st, 0, "failedIssuanceAttempts"); n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed attempts", n))
	}
	return strings.Join(parts, ", ")
}
