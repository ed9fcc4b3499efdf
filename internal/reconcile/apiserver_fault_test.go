package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

// The API server is killed (SIGKILL) and started again while 50
// Applications sync: every one converges, each sync is recorded exactly
// once, and the ledger's chain verifies.
func TestAPIServerKilledDuringASyncOf50(t *testing.T) {
	const n = 50
	f := newRepo(t)
	rev := f.configMapApps(t, n)

	// Kill it once some have synced and others have not.
	synced := func(ctx context.Context) (int, error) {
		l := &v1.ApplicationList{}
		if err := f.c.List(ctx, l, client.InNamespace(f.ns)); err != nil {
			return 0, err
		}
		done := 0
		for _, a := range l.Items {
			if meta.IsStatusConditionTrue(a.Status.Conditions, v1.ConditionReady) && a.Status.LastAppliedRevision != nil && a.Status.LastAppliedRevision.Commit == rev {
				done++
			}
		}
		return done, nil
	}
	eventually(t, 60*time.Second, "a few Applications synced", func(ctx context.Context) (bool, error) {
		done, err := synced(ctx)
		return done >= 3, err
	})
	before, _ := synced(testenv.Context(t))
	if before == n {
		t.Fatal("every Application synced before the kill: the fault hit no sync")
	}
	killed := time.Now()
	if err := testenv.ControlPlane(t).Restart(testenv.Context(t), kubebin.APIServer); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver killed with %d of %d Applications synced, serving again after %s", before, n, time.Since(killed).Round(time.Millisecond))

	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		done, err := synced(testenv.Context(t))
		if err == nil && done == n {
			break
		}
		if time.Now().After(deadline) {
			l := &v1.ApplicationList{}
			_ = f.c.List(testenv.Context(t), l, client.InNamespace(f.ns))
			for _, a := range l.Items {
				if c := meta.FindStatusCondition(a.Status.Conditions, v1.ConditionReady); c == nil || c.Status != "True" {
					t.Logf("%s: %+v", a.Name, a.Status.Conditions)
				}
			}
			t.Fatalf("%d of %d synced 3 minutes after the restart (%v)", done, n, err)
		}
	}
	t.Logf("all %d synced %s after the kill", n, time.Since(killed).Round(time.Millisecond))

	// Exactly one successful Sync record per Application, and the chain holds.
	f.eachSyncedOnce(t, n, rev)
	out := lockstep(t, "audit", "verify", "--server", shared.apiURL, "--token", apiToken)
	if !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify after the restart: %s", out)
	}
}
