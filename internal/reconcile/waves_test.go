package reconcile_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// inWave adds a sync-wave annotation to a manifest's metadata.
func inWave(manifest, annotation, wave string) string {
	return strings.Replace(manifest, "metadata: {name: ", "metadata: {annotations: {"+annotation+": \""+wave+"\"}, name: ", 1)
}

func TestWavesApplyInOrderBehindHealthyWaves(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	rev := f.commit(t, "waves", map[string]string{
		// wave 0 (no annotation): a Deployment KWOK brings to Available
		"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info"),
		// wave 1, in Argo CD's spelling: created only once the Deployment is healthy
		"app/cm.yaml": inWave(configMapYAML, "argocd.argoproj.io/sync-wave", "1"),
	})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)

	d := &appsv1.Deployment{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	var available time.Time
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = c.LastTransitionTime.Time
		}
	}
	if available.IsZero() || cm.CreationTimestamp.Time.Before(available) {
		t.Errorf("wave 1 ConfigMap created at %s, Deployment of wave 0 Available at %v: want the ConfigMap after", cm.CreationTimestamp, available)
	}
}

func TestUnhealthyWaveStopsLaterWaves(t *testing.T) {
	f := newRepo(t)
	stuck := strings.Replace(deploymentYAML("registry.internal/web:1.0", "info"), "    spec:\n", "    spec:\n      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n", 1)
	rev := f.commit(t, "waves", map[string]string{
		"app/deploy.yaml": stuck,
		"app/cm.yaml":     inWave(configMapYAML, "lockstep.dev/sync-wave", "1"),
	})
	f.create(t, f.application("web", "app", func(app *v1.Application) {
		app.Spec.Sync.Timeout = &metav1.Duration{Duration: 5 * time.Second}
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonApplyFailed, rev)
	msg := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady).Message
	if !strings.Contains(msg, "Deployment.apps/"+f.ns+"/web: sync wave 0 still Progressing") || !strings.Contains(msg, "later waves were not applied") {
		t.Errorf("Ready message %q does not name the unhealthy object and its wave", msg)
	}
	err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("wave 1 was applied although wave 0 never became healthy (err %v)", err)
	}
}
