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
	pair := electTwo(t, f)
	rev := f.configMapApps(t, n)
	f.waitSynced(t, rev, 3, 90*time.Second)
	first := pair.killLeader(t)
	killed := time.Now()
	t.Logf("leader %s killed with %d of %d synced", first, f.countSynced(t, rev), n)
	eventually(t, 60*time.Second, "the other replica leads", func(context.Context) (bool, error) {
		h := pair.holder(t)
		return h != "" && h != first, fmt.Errorf("holder %q", h)
	})
	takeover := time.Since(killed)
	t.Logf("the other replica took the Lease %s after the kill", takeover.Round(time.Millisecond))
	// controller-runtime's Lease lasts 15 s, retried every 2 s.
	if takeover > 15*time.Second+2*2*time.Second+5*time.Second {
		t.Errorf("takeover took %s, more than the Lease's time and a margin", takeover)
	}
	f.waitSynced(t, rev, n, 2*time.Minute)
	t.Logf("all %d synced %s after the kill", n, time.Since(killed).Round(time.Millisecond))
	pair.stop(t)
	eventually(t, 60*time.Second, "the in-process controller's API answers", func(ctx context.Context) (bool, error) {
		_, err := apiClient(t).Records(ctx, audit.Filter{Limit: 1})
		return err == nil, err
	})
	f.eachSyncedOnce(t, n, rev)
}

// electedPair is two controller replicas with leader election, in place of
// the in-process controller (stopped meanwhile, started again by stop or
// when the test ends).
type electedPair struct {
	f        *repoFixture
	leaseNS  string
	replicas []*exec.Cmd // the second is the one that waited
	stopped  bool
}

// electTwo starts two replicas (with extra arguments) and returns once the
// first leads.
func electTwo(t *testing.T, f *repoFixture, extra ...string) *electedPair {
	t.Helper()
	shared.stop()
	<-shared.done
	p := &electedPair{f: f, leaseNS: "lease-" + f.ns}
	t.Cleanup(func() {
		for _, r := range p.replicas {
			_ = r.Process.Signal(syscall.SIGKILL)
		}
		if !p.stopped {
			shared.start(t)
		}
	})
	args := append([]string{"--leader-elect", "--leader-election-namespace", p.leaseNS}, extra...)
	p.replicas = append(p.replicas, killableController(t, args...))
	eventually(t, 60*time.Second, "the first replica leads", func(context.Context) (bool, error) { return p.holder(t) != "", nil })
	p.replicas = append(p.replicas, killableController(t, args...))
	return p
}

// holder is the identity holding the Lease, "" when none does.
func (p *electedPair) holder(t *testing.T) string {
	l := &coordinationv1.Lease{}
	if err := p.f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: p.leaseNS, Name: "lockstep-controller"}, l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// killLeader SIGKILLs the first replica, which leads (its Lease is never
// released), and returns its identity.
func (p *electedPair) killLeader(t *testing.T) string {
	t.Helper()
	leader := p.holder(t)
	if err := p.replicas[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return leader
}

// stop ends the second replica and starts the in-process controller again.
func (p *electedPair) stop(t *testing.T) {
	t.Helper()
	_ = p.replicas[1].Process.Signal(syscall.SIGTERM)
	waitGone(t, p.replicas[1])
	p.replicas = nil
	shared.start(t)
	p.stopped = true
}
