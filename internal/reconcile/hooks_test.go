package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// hookJob is a Job hook; KWOK completes its pod, unless the pod cannot be
// scheduled, in which case activeDeadlineSeconds fails the Job.
func hookJob(name, annotations string, schedulable bool) string {
	return hookJobNamed("name: "+name, annotations, schedulable)
}

// hookJobNamed is hookJob with its naming line: "name: x" or "generateName: x-".
func hookJobNamed(naming, annotations string, schedulable bool) string {
	spec := ""
	if !schedulable {
		spec = "      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n"
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  %s
  annotations: {%s}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 3
  template:
    spec:
      restartPolicy: Never
%s      containers: [{name: run, image: registry.internal/tools:1}]
`, naming, annotations, spec)
}

func TestPreSyncAndPostSyncHooksRunAroundTheSync(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	rev := f.commit(t, "with hooks", map[string]string{
		"app/cm.yaml":      configMapYAML,
		"app/migrate.yaml": hookJob("migrate", `lockstep.dev/hook: PreSync`, true),
		// Argo CD's spelling, deleted once it succeeded
		"app/smoke.yaml": hookJob("smoke", `argocd.argoproj.io/hook: PostSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded`, true),
	})
	f.create(t, f.application("web", "app", nil))
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	migrate := &batchv1.Job{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "migrate"}, migrate); err != nil {
		t.Fatalf("the PreSync hook (kept by the default BeforeHookCreation policy): %v", err)
	}
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	var completed time.Time
	if migrate.Status.CompletionTime != nil {
		completed = migrate.Status.CompletionTime.Time
	}
	if completed.IsZero() || cm.CreationTimestamp.Time.Before(completed.Truncate(time.Second)) {
		t.Errorf("ConfigMap created at %s, PreSync hook completed at %v: want it after", cm.CreationTimestamp, completed)
	}
	err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "smoke"}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the PostSync hook with HookSucceeded is still there (err %v)", err)
	}
	for _, e := range app.Status.ManagedRefs() {
		if e.Kind == "Job" {
			t.Errorf("hook %s is in the inventory", e.Name)
		}
	}
}

func TestFailingPreSyncHookStopsTheSyncAndRunsSyncFailed(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "failing hook", map[string]string{
		"app/cm.yaml":      configMapYAML,
		"app/migrate.yaml": hookJob("migrate", `lockstep.dev/hook: PreSync`, false),
		"app/cleanup.yaml": hookJob("cleanup", `lockstep.dev/hook: SyncFailed`, true),
	})
	f.create(t, f.application("web", "app", func(app *v1.Application) {
		app.Spec.Sync.Timeout = &metav1.Duration{Duration: 30 * time.Second}
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonHookFailed, rev)
	msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message
	if !strings.Contains(msg, "Job.batch/"+f.ns+"/migrate: PreSync hook failed") {
		t.Errorf("Ready message %q does not name the hook", msg)
	}
	err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap was applied although the PreSync hook failed (err %v)", err)
	}
	eventually(t, 30*time.Second, "the SyncFailed hook ran to completion", func(ctx context.Context) (bool, error) {
		j := &batchv1.Job{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "cleanup"}, j); err != nil {
			return false, err
		}
		return j.Status.Succeeded == 1, fmt.Errorf("succeeded %d", j.Status.Succeeded)
	})
}

// Hook Jobs named by metadata.generateName, as Argo CD and Helm charts write
// them, run as a new Job on each sync; BeforeHookCreation deletes the earlier
// runs and HookSucceeded the finished one. An ordinary object with
// generateName is refused, naming it.
func TestGeneratedHooksRunOncePerSyncAndAreCleanedUp(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	files := map[string]string{
		"app/cm.yaml":      configMapYAML,
		"app/migrate.yaml": hookJobNamed("generateName: migrate-", `argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: BeforeHookCreation`, true),
		"app/smoke.yaml":   hookJobNamed("generateName: smoke-", `argocd.argoproj.io/hook: PostSync, helm.sh/hook-delete-policy: hook-succeeded`, true),
	}
	rev := f.commit(t, "generated hooks", files)
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	jobs := func() map[string]int {
		list := &batchv1.JobList{}
		if err := f.c.List(ctx, list, client.InNamespace(f.ns)); err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, j := range list.Items {
			n[j.GenerateName]++
			if j.GenerateName != "" && (!strings.HasPrefix(j.Name, j.GenerateName) || j.Name == j.GenerateName) {
				t.Errorf("Job %s was not named by the server from %q", j.Name, j.GenerateName)
			}
		}
		return n
	}
	if n := jobs(); n["migrate-"] != 1 || n["smoke-"] != 0 {
		t.Fatalf("after the first sync: %v; want one migrate- run kept, the smoke- run deleted once it succeeded", n)
	}
	// Decoys carrying the run label (anyone who may write a Job can copy it)
	// survive: runs are deleted only when Lockstep's, the hook Application's,
	// and named from the hook's prefix.
	list := &batchv1.JobList{}
	if err := f.c.List(ctx, list, client.InNamespace(f.ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("jobs: %v %v", len(list.Items), err)
	}
	runLabel := list.Items[0].Labels["lockstep.dev/hook-run"]
	if runLabel == "" {
		t.Fatalf("the migrate- run has no run label: %v", list.Items[0].Labels)
	}
	for name, ann := range map[string]string{"decoy": f.ns + "/web", "migrate-decoy": "someone-else/app"} {
		decoy := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
			Labels:      map[string]string{"lockstep.dev/hook-run": runLabel, "lockstep.dev/managed": "true"},
			Annotations: map[string]string{"lockstep.dev/application": ann}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "registry.internal/tools:1"}}}}}}
		if err := f.c.Create(ctx, decoy); err != nil {
			t.Fatal(err)
		}
	}

	// A second sync runs the hooks again: a new migrate- Job replaces the first.
	files["app/cm.yaml"] = strings.Replace(configMapYAML, "hello", "bonjour", 1)
	rev = f.commit(t, "second sync", files)
	f.refresh(t, "web")
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if n := jobs(); n["migrate-"] != 1 || n["smoke-"] != 0 || n[""] != 2 {
		t.Fatalf("after the second sync: %v; want exactly one migrate- run (the earlier deleted), no smoke- run, both decoys", n)
	}

	// generateName on an object that is not a hook names it in the error.
	files["app/extra.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: extra-}\ndata: {a: b}\n"
	rev = f.commit(t, "not a hook", files)
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonPlanFailed, rev)
	if msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message; !strings.Contains(msg, `metadata.generateName "extra-" is for hooks only`) {
		t.Errorf("Ready message %q does not say generateName is for hooks", msg)
	}
}

// A hook that never finishes holds a worker only as long as the Project
// allows, whatever spec.sync.timeout the Application asks for.
func TestTheProjectCapsTheSyncTimeout(t *testing.T) {
	f := newRepo(t)
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		MaxSyncTimeout: &metav1.Duration{Duration: 3 * time.Second}})
	never := strings.Replace(hookJob("stuck", `lockstep.dev/hook: PreSync`, false), "  activeDeadlineSeconds: 3\n", "", 1)
	head := f.commit(t, "a hook that never finishes", map[string]string{"app/cm.yaml": configMapYAML, "app/stuck.yaml": never})
	f.create(t, f.application("web", "app", func(a *v1.Application) {
		f.inProject(a)
		a.Spec.Sync.Timeout = &metav1.Duration{Duration: 8760 * time.Hour}
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonHookFailed, head)
	if msg := readyMessage(app); !strings.Contains(msg, "PreSync hook did not finish before the sync timed out") {
		t.Errorf("Ready message %q", msg)
	}
}
