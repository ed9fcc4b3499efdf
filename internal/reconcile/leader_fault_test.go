package reconcile_test

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// Two replicas elect a leader; the leader is killed (SIGKILL, so it never
// releases its Lease) while 20 Applications sync: the other takes over
// within the Lease's time, every Application converges, and no sync is
// recorded twice.
func TestLeaderKilledTheOtherTakesOver(t *testing.T) {
	const n = 20
	f := newRepo(t)
	shared.stop()
	<-shared.done
	var replicas []*exec.Cmd
	back := false
	defer func() {
		for _, r := range replicas {
			_ = r.Process.Signal(syscall.SIGKILL)
		}
		if !back {
			shared.start(t)
		}
	}()
	leaseNS := "lease-" + f.ns
	elect := []string{"--leader-elect", "--leader-election-namespace", leaseNS}
	holder := func() string {
		l := &coordinationv1.Lease{}
		if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: leaseNS, Name: "lockstep-controller"}, l); err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}

	replicas = append(replicas, killableController(t, elect...))
	eventually(t, 60*time.Second, "the first replica leads", func(context.Context) (bool, error) { return holder() != "", nil })
	first := holder()
	replicas = append(replicas, killableController(t, elect...))

	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("app%02d/cm.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-%02d}\ndata: {N: %q}\n", i, fmt.Sprint(i))
	}
	rev := f.commit(t, "twenty", files)
	for i := range n {
		f.create(t, f.application(fmt.Sprintf("app%02d", i), fmt.Sprintf("app%02d", i), nil))
	}
	synced := func() int { return f.countSynced(t, rev) }
	for deadline := time.Now().Add(90 * time.Second); synced() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the leader synced fewer than 3 Applications in 90 s")
		}
	}
	if err := replicas[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("leader %s killed with %d of %d synced", first, synced(), n)
	eventually(t, 60*time.Second, "the other replica leads", func(context.Context) (bool, error) {
		h := holder()
		return h != "" && h != first, fmt.Errorf("holder %q", h)
	})
	takeover := time.Since(killed)
	t.Logf("the other replica took the Lease %s after the kill", takeover.Round(time.Millisecond))
	// controller-runtime's Lease lasts 15 s, retried every 2 s.
	if takeover > 15*time.Second+2*2*time.Second+5*time.Second {
		t.Errorf("takeover took %s, more than the Lease's time and a margin", takeover)
	}
	for deadline := time.Now().Add(2 * time.Minute); synced() != n; time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d synced 2 minutes after the takeover", synced(), n)
		}
	}
	t.Logf("all %d synced %s after the kill", n, time.Since(killed).Round(time.Millisecond))
	_ = replicas[1].Process.Signal(syscall.SIGTERM)
	waitGone(t, replicas[1])
	replicas = nil

	shared.start(t)
	back = true
	eventually(t, 60*time.Second, "the in-process controller's API answers", func(ctx context.Context) (bool, error) {
		_, err := apiClient(t).Records(ctx, audit.Filter{Limit: 1})
		return err == nil, err
	})
	f.eachSyncedOnce(t, n, rev)
}
