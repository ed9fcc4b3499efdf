package plan

import (
	"fmt"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Hooks are Jobs or Pods that run around a sync instead of being kept in sync:
// PreSync before anything is applied, PostSync once everything applied is
// healthy, SyncFailed when a sync fails. They run only when a sync applies
// something, are never part of the inventory and never pruned; their delete
// policy says when they go. The meaning, and Argo CD's annotations, are those
// Argo CD users know.
//
// A hook may name itself with metadata.generateName (the usual idiom of Argo CD
// and Helm hook Jobs): each run then creates a new object, and its delete policy
// cleans up the runs (BeforeHookCreation deletes the earlier ones).
const (
	HookAnnotation             = "lockstep.dev/hook"
	ArgoHookAnnotation         = "argocd.argoproj.io/hook"
	HookDeletePolicyAnnotation = "lockstep.dev/hook-delete-policy"
	ArgoHookDeletePolicy       = "argocd.argoproj.io/hook-delete-policy"
	HelmHookDeletePolicy       = "helm.sh/hook-delete-policy"
)

// helmDeletePolicies are Helm's names of the delete policies.
var helmDeletePolicies = map[string]string{
	"hook-succeeded": HookSucceeded, "hook-failed": HookFailed, "before-hook-creation": BeforeHookCreation,
}

// HookPhase is when a hook runs.
type HookPhase string

// Hook phases.
const (
	PreSync    HookPhase = "PreSync"
	PostSync   HookPhase = "PostSync"
	SyncFailed HookPhase = "SyncFailed"
)

// Hook delete policies; BeforeHookCreation is the default, as in Argo CD.
const (
	HookSucceeded      = "HookSucceeded"
	HookFailed         = "HookFailed"
	BeforeHookCreation = "BeforeHookCreation"
)

// Hook is one hook object of a plan.
type Hook struct {
	Phase HookPhase
	// Key names the hook; a generated one (metadata.generateName, each run's
	// object named anew) by its prefix and a star (object.KeyOf).
	Key       object.Key
	Generated bool
	Object    *unstructured.Unstructured
	Wave      int
	// DeletePolicies are the policies named (BeforeHookCreation when none).
	DeletePolicies []string
}

// Deletes reports whether the hook has the given delete policy.
func (h Hook) Deletes(policy string) bool {
	for _, p := range h.DeletePolicies {
		if p == policy {
			return true
		}
	}
	return false
}

// hookOf reads an object's hook annotations: ok is false for an ordinary object;
// skip is true for Argo CD's Skip (never applied).
func hookOf(o *unstructured.Unstructured) (h Hook, ok, skip bool, err error) {
	ann := o.GetAnnotations()
	phase := ann[HookAnnotation]
	if phase == "" {
		phase = ann[ArgoHookAnnotation]
	}
	if phase == "" {
		return Hook{}, false, false, nil
	}
	if phase == "Skip" {
		return Hook{}, false, true, nil
	}
	switch HookPhase(phase) {
	case PreSync, PostSync, SyncFailed:
	default:
		return Hook{}, false, false, fmt.Errorf("%s: hook %q is not supported; use PreSync, PostSync or SyncFailed", object.KeyOf(o), phase)
	}
	if gk := o.GroupVersionKind().GroupKind(); gk.String() != "Job.batch" && gk.String() != "Pod" {
		return Hook{}, false, false, fmt.Errorf("%s: a hook must be a Job or a Pod", object.KeyOf(o))
	}
	h = Hook{Phase: HookPhase(phase), Key: object.KeyOf(o), Object: o, Generated: o.GetName() == ""}
	if h.Wave, err = waveOf(o); err != nil {
		return Hook{}, false, false, err
	}
	policies := ann[HookDeletePolicyAnnotation]
	if policies == "" {
		policies = ann[ArgoHookDeletePolicy]
	}
	if policies == "" {
		policies = ann[HelmHookDeletePolicy]
	}
	for _, p := range strings.Split(policies, ",") {
		p = strings.TrimSpace(p)
		if named, ok := helmDeletePolicies[p]; ok {
			p = named
		}
		switch p {
		case "":
		case HookSucceeded, HookFailed, BeforeHookCreation:
			h.DeletePolicies = append(h.DeletePolicies, p)
		default:
			return Hook{}, false, false, fmt.Errorf("%s: hook delete policy %q is not one of HookSucceeded, HookFailed, BeforeHookCreation", object.KeyOf(o), p)
		}
	}
	if len(h.DeletePolicies) == 0 {
		h.DeletePolicies = []string{BeforeHookCreation}
	}
	return h, true, false, nil
}

// HooksOf returns the plan's hooks of one phase, in wave order.
func (p Plan) HooksOf(phase HookPhase) []Hook {
	var out []Hook
	for _, h := range p.Hooks {
		if h.Phase == phase {
			out = append(out, h)
		}
	}
	return out
}
