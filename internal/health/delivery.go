package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deliveryRules are the health rules for the tools teams pair with GitOps:
// progressive delivery (Argo Rollouts, Flagger), secrets from outside Git
// (Sealed Secrets, External Secrets) and certificates (cert-manager). They are
// keyed by API group and kind, so every version a tool serves (v1alpha1,
// v1beta1, v1, ...) gets the same rule, and they read status the way Argo CD's
// health scripts (resource_customizations) read it, so a team that moves from
// Argo CD sees the same verdicts. Where a rule departs from Argo CD, it says why.
var deliveryRules = map[schema.GroupKind]func(*unstructured.Unstructured) Result{
	{Group: "argoproj.io", Kind: "Rollout"}:                    rollout,
	{Group: "flagger.app", Kind: "Canary"}:                     flaggerCanary,
	{Group: "bitnami.com", Kind: "SealedSecret"}:               sealedSecret,
	{Group: "external-secrets.io", Kind: "ExternalSecret"}:     externalSecret,
	{Group: "external-secrets.io", Kind: "SecretStore"}:        secretStore,
	{Group: "external-secrets.io", Kind: "ClusterSecretStore"}: secretStore,
	{Group: "cert-manager.io", Kind: "Certificate"}:            certificate,
}

// rollout is the health of an Argo Rollouts Rollout (argoproj.io/v1alpha1),
// following Argo CD's health script. It reads:
//
//   - metadata.generation against status.observedGeneration (a string; a
//     value that is not a number is a pre-v0.10 hash and counts as observed);
//   - with spec.workloadRef, the annotation
//     rollout.argoproj.io/workload-generation against
//     status.workloadObservedGeneration (the Deployment the template comes from);
//   - status.controllerPause and status.pauseConditions, to see a resume the
//     controller has not acted on yet (as the Argo Rollouts CLI does);
//   - status.phase and status.message, which Argo Rollouts v1.0 and later
//     compute; without them, the fields the phase is computed from (see
//     rolloutBeforePhase);
//   - for the message only: status.currentStepIndex with
//     spec.strategy.canary.steps, and the analysis runs in status.canary and
//     status.blueGreen.
func rollout(o *unstructured.Unstructured) Result {
	st := object(o.Object, "status")
	if st == nil {
		return result(Progressing, "waiting for Argo Rollouts to observe the Rollout (no status yet)")
	}
	if r, ok := rolloutUnobserved(o, st); ok {
		return r
	}
	if st["controllerPause"] == true && len(list(st, "pauseConditions")) == 0 {
		return result(Progressing, "resuming: the pause was cleared and Argo Rollouts has not acted on it yet")
	}
	msg := str(st, "message")
	switch phase := str(st, "phase"); phase {
	case "":
		return rolloutBeforePhase(o.Object, st)
	case "Healthy":
		// The controller computes Healthy from these same counts; reading them
		// again keeps a phase someone wrote by hand from passing for settled.
		if r, ok := rolloutReplicas(o.Object, st); ok {
			return r
		}
		return result(Healthy, msg)
	case "Paused":
		return result(Suspended, "paused: "+orElse(msg, "a pause step or a manual pause"), rolloutStep(o.Object, st))
	case "Degraded":
		return result(Degraded, orElse(orElse(msg, rolloutFailure(st)), "Argo Rollouts reports it Degraded"), rolloutAnalysis(st))
	case "Progressing":
		return result(Progressing, orElse(msg, "rolling out"), rolloutStep(o.Object, st), rolloutAnalysis(st))
	default:
		return result(Progressing, fmt.Sprintf("unknown phase %q", phase), msg)
	}
}

// rolloutUnobserved is Progressing while the controller has not seen the
// latest spec, or the latest template of the Deployment it refers to: the
// phase describes an older one until then.
func rolloutUnobserved(o *unstructured.Unstructured, st map[string]any) (Result, bool) {
	gen := o.GetGeneration()
	if observed, ok := whole(st["observedGeneration"]); ok && observed < gen {
		return result(Progressing, fmt.Sprintf("waiting for Argo Rollouts to observe generation %d (status.observedGeneration %d)", gen, observed)), true
	}
	if object(o.Object, "spec", "workloadRef") == nil {
		return Result{}, false
	}
	want, ok := whole(o.GetAnnotations()["rollout.argoproj.io/workload-generation"])
	if !ok {
		return Result{}, false
	}
	if got, ok := whole(st["workloadObservedGeneration"]); !ok || got != want {
		return result(Progressing, fmt.Sprintf("waiting for Argo Rollouts to observe generation %d of the referenced workload", want)), true
	}
	return Result{}, false
}

// rolloutBeforePhase is the health of a Rollout from a controller older than
// v1.0, which writes no status.phase, computed as Argo CD (and Argo Rollouts'
// own CalculateRolloutPhase) do from status.conditions, spec.paused,
// status.pauseConditions, status.currentPodHash, the replica counts,
// status.stableRS (status.canary.stableRS before v0.8) and
// status.blueGreen.activeSelector.
func rolloutBeforePhase(obj, st map[string]any) Result {
	if c, ok := findCondition(st, "InvalidSpec"); ok {
		return result(Degraded, "invalid spec: "+c.Message)
	}
	if failure := rolloutFailure(st); failure != "" {
		return result(Degraded, failure, rolloutAnalysis(st))
	}
	if len(list(st, "pauseConditions")) > 0 || field(obj, "spec", "paused") == true {
		return result(Suspended, "paused", rolloutStep(obj, st))
	}
	hash := str(st, "currentPodHash")
	if hash == "" {
		return result(Progressing, "waiting for Argo Rollouts to reconcile the Rollout (no status.currentPodHash)")
	}
	if r, ok := rolloutReplicas(obj, st); ok {
		return r
	}
	stable := orElse(str(st, "stableRS"), str(st, "canary", "stableRS"))
	switch {
	case object(obj, "spec", "strategy", "blueGreen") != nil:
		if str(st, "blueGreen", "activeSelector") != hash {
			return result(Progressing, "waiting for the active service to switch to the new pods")
		}
		if stable != "" && stable != hash {
			return result(Progressing, "waiting for post-promotion analysis", rolloutAnalysis(st))
		}
	case object(obj, "spec", "strategy", "canary") != nil:
		if wholeOr(st, 0, "replicas") > wholeOr(st, 0, "updatedReplicas") {
			return result(Progressing, "waiting for old replicas to terminate")
		}
		if stable == "" || stable != hash {
			return result(Progressing, "waiting for the canary steps to complete", rolloutStep(obj, st), rolloutAnalysis(st))
		}
	}
	return result(Healthy, "")
}

// rolloutFailure is why the rollout was given up, from a Progressing condition
// the controller sets when it aborts (by hand or on failed analysis) or passes
// spec.progressDeadlineSeconds; "" when it was not.
func rolloutFailure(st map[string]any) string {
	c, ok := findCondition(st, "Progressing")
	if ok && (c.Reason == "RolloutAborted" || c.Reason == "ProgressDeadlineExceeded") {
		return c.because()
	}
	return ""
}

// rolloutReplicas is Progressing while fewer pods than spec.replicas (1 when
// unset) run the current template, or some of those are not available yet.
func rolloutReplicas(obj, st map[string]any) (Result, bool) {
	desired := wholeOr(obj, 1, "spec", "replicas")
	updated := wholeOr(st, 0, "updatedReplicas")
	available := wholeOr(st, 0, "availableReplicas")
	switch {
	case updated < desired:
		return result(Progressing, fmt.Sprintf("waiting for the rollout to finish: %d of %d replicas updated", updated, desired)), true
	case available < updated:
		return result(Progressing, fmt.Sprintf("waiting for the rollout to finish: %d of %d updated replicas available", available, updated)), true
	}
	return Result{}, false
}

// rolloutStep says which canary step the rollout is at ("" when it has none or
// has run them all).
func rolloutStep(obj, st map[string]any) string {
	steps := list(obj, "spec", "strategy", "canary", "steps")
	i, ok := whole(st["currentStepIndex"])
	if !ok || i < 0 || i >= int64(len(steps)) {
		return ""
	}
	return fmt.Sprintf("step %d of %d", i+1, len(steps))
}

// rolloutAnalysis names the analysis runs the rollout is waiting on or was
// stopped by, with their phase and message.
func rolloutAnalysis(st map[string]any) string {
	var runs []string
	for _, path := range [][]string{
		{"canary", "currentStepAnalysisRunStatus"},
		{"canary", "currentBackgroundAnalysisRunStatus"},
		{"blueGreen", "prePromotionAnalysisRunStatus"},
		{"blueGreen", "postPromotionAnalysisRunStatus"},
	} {
		run := object(st, path...)
		if run == nil || str(run, "name") == "" {
			continue
		}
		s := fmt.Sprintf("analysis run %s %s", str(run, "name"), orElse(str(run, "status"), "Pending"))
		if m := str(run, "message"); m != "" {
			s += ": " + m
		}
		runs = append(runs, s)
	}
	return joinNonEmpty(runs)
}

// flaggerCanary is the health of a Flagger Canary (flagger.app/v1beta1) by
// status.phase, as Argo CD reads it, with the Promoted condition's message,
// status.canaryWeight and status.failedChecks in the message.
//
// It departs from Argo CD (which calls them Unknown) for the phases Lockstep
// has no Unknown for: Waiting and WaitingPromotion, where Flagger holds the
// canary until a confirm-rollout or confirm-promotion webhook approves, are
// Suspended like a paused Rollout, so a sync does not wait on a person;
// Initializing, Terminating and a phase not known here are Progressing.
func flaggerCanary(o *unstructured.Unstructured) Result {
	st := object(o.Object, "status")
	phase := str(st, "phase")
	if phase == "" {
		return result(Progressing, "waiting for Flagger to initialize the canary (no status.phase yet)")
	}
	detail := canaryDetail(st)
	switch phase {
	case "Initialized", "Succeeded":
		return result(Healthy, phase, detail)
	case "Failed":
		return result(Degraded, "Failed", detail)
	case "Waiting":
		return result(Suspended, "Waiting: held until a confirm-rollout webhook approves", detail)
	case "WaitingPromotion":
		return result(Suspended, "WaitingPromotion: held until a confirm-promotion webhook approves", detail)
	case "Initializing", "Progressing", "Promoting", "Finalising", "Terminating", "Terminated":
		return result(Progressing, phase, detail)
	default:
		return result(Progressing, fmt.Sprintf("unknown phase %q", phase), detail)
	}
}

// canaryDetail is the Promoted condition's message, the traffic the canary
// gets and the checks it failed.
func canaryDetail(st map[string]any) string {
	var parts []string
	if c, ok := findCondition(st, "Promoted"); ok {
		parts = append(parts, c.Message)
	}
	if w := wholeOr(st, 0, "canaryWeight"); w > 0 {
		parts = append(parts, fmt.Sprintf("canary weight %d%%", w))
	}
	if f := wholeOr(st, 0, "failedChecks"); f > 0 {
		parts = append(parts, fmt.Sprintf("failed checks: %d", f))
	}
	return joinNonEmpty(parts)
}

// orElse is s, or def when s is empty.
func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// joinNonEmpty joins the non-empty parts with ", ".
func joinNonEmpty(parts []string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ", ")
}
