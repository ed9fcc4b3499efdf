package plan_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

func TestHooksAreSetApartFromTheSync(t *testing.T) {
	pre := obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: x, annotations: {lockstep.dev/hook: PreSync, lockstep.dev/sync-wave: \"2\"}}")
	pre2 := obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: backup, namespace: x, annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: \"HookSucceeded, HookFailed\"}}")
	post := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: smoke, namespace: x, annotations: {lockstep.dev/hook: PostSync}}")
	skipped := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes, namespace: x, annotations: {argocd.argoproj.io/hook: Skip}}")
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}")
	p, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{pre, pre2, post, skipped, cm}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Create ConfigMap/x/c"}, summary(p)); diff != "" {
		t.Errorf("steps (-want +got; hooks and Skip are not synced objects):\n%s", diff)
	}
	var got []string
	for _, h := range p.HooksOf(plan.PreSync) {
		got = append(got, h.Key.Name+" "+strings.Join(h.DeletePolicies, "+"))
	}
	if diff := cmp.Diff([]string{"backup HookSucceeded+HookFailed", "migrate BeforeHookCreation"}, got); diff != "" {
		t.Errorf("PreSync hooks in wave order with policies (-want +got):\n%s", diff)
	}
	if len(p.HooksOf(plan.PostSync)) != 1 || len(p.HooksOf(plan.SyncFailed)) != 0 {
		t.Errorf("hooks %+v", p.Hooks)
	}
	if len(p.Inventory()) != 1 {
		t.Errorf("inventory %v holds hooks", p.Inventory())
	}
}

func TestBadHooksAreErrors(t *testing.T) {
	for manifest, want := range map[string]string{
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: x, annotations: {lockstep.dev/hook: Sync}}":                                               `hook "Sync" is not supported`,
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x, annotations: {lockstep.dev/hook: PreSync}}":                                            "a hook must be a Job or a Pod",
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: x, annotations: {lockstep.dev/hook: PreSync, lockstep.dev/hook-delete-policy: WhenDone}}": `hook delete policy "WhenDone"`,
	} {
		_, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{obj(t, manifest)}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
}

// metadata.generateName, the usual idiom of Argo CD and Helm hook Jobs, names
// a hook (each run is a new object); an object kept in sync needs a fixed name.
func TestGenerateNameIsForHooksOnly(t *testing.T) {
	hook := obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-, namespace: x, annotations: {argocd.argoproj.io/hook: PreSync, helm.sh/hook-delete-policy: \"before-hook-creation,hook-succeeded\"}}")
	p, err := plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{hook}})
	if err != nil {
		t.Fatal(err)
	}
	h := p.HooksOf(plan.PreSync)
	if len(h) != 1 || !h[0].Generated || h[0].Key.Name != "migrate-*" || strings.Join(h[0].DeletePolicies, "+") != "BeforeHookCreation+HookSucceeded" {
		t.Fatalf("hooks %+v", h)
	}
	plain := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cfg-, namespace: x}")
	_, err = plan.Compute(plan.Input{Desired: []*unstructured.Unstructured{plain}})
	if err == nil || !strings.Contains(err.Error(), `ConfigMap/x/cfg-*: metadata.generateName "cfg-" is for hooks only`) {
		t.Errorf("an ordinary object with generateName: %v", err)
	}
}
