package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// killableController runs the shared controller's configuration as a separate
// lockstep process (the test binary, see TestMain), so that a test can kill
// it; its output goes to the shared controller's log.
func killableController(t *testing.T, extra ...string) *exec.Cmd {
	t.Helper()
	args, err := json.Marshal(append([]string{"controller", "--kubeconfig", testenv.ControlPlane(t).Kubeconfig,
		"--data-dir", shared.opts.DataDir, "--namespace", shared.opts.Namespace, "--tenant-reads-as-controller",
		"--api-address", "", "--metrics-address", "0"}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.OpenFile(shared.logs, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), cliArgsEnv+"="+string(args))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); _ = logs.Close() }()
	return cmd
}

// The controller is killed (SIGKILL) three times while 50 Applications
// sync, mid-apply and mid-ledger-write as it happens: after each restart it
// resumes, every Application converges, each sync is recorded exactly once,
// and the ledger's chain verifies.
func TestControllerKilledMidSync(t *testing.T) {
	const n = 50
	f := newRepo(t)
	// The in-process controller steps aside for a process that can be killed.
	shared.stop()
	<-shared.done
	back := false
	var proc *exec.Cmd
	defer func() {
		if proc != nil {
			_ = proc.Process.Signal(syscall.SIGKILL)
		}
		if !back {
			shared.start(t)
		}
	}()

	proc = killableController(t)
	rev := f.configMapApps(t, n)
	synced := func() int { return f.countSynced(t, rev) }
	// Kill it at 5, 20 and 35 synced: each time in the middle of the work.
	for _, at := range []int{5, 20, 35} {
		f.waitSynced(t, rev, at, 90*time.Second)
		if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if synced() == n {
			t.Fatal("every Application synced before the kill: the fault hit no sync")
		}
		t.Logf("controller killed with %d of %d synced", synced(), n)
		time.Sleep(200 * time.Millisecond)
		proc = killableController(t)
	}
	started := time.Now()
	f.waitSynced(t, rev, n, 3*time.Minute)
	t.Logf("all %d synced %s after the last restart", n, time.Since(started).Round(time.Millisecond))
	_ = proc.Process.Signal(syscall.SIGTERM)
	waitGone(t, proc)
	proc = nil

	// The in-process controller again, to read the ledger through its API.
	shared.start(t)
	back = true
	eventually(t, 60*time.Second, "the in-process controller's API answers", func(ctx context.Context) (bool, error) {
		_, err := apiClient(t).Records(ctx, audit.Filter{Limit: 1})
		return err == nil, err
	})
	f.eachSyncedOnce(t, n, rev)
	out := lockstep(t, "audit", "verify", "--server", shared.apiURL, "--token", apiToken)
	if !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify after the kills: %s", out)
	}
}

// configMapApps commits n folders app00…, each a ConfigMap, in one commit,
// creates an Application for each, and returns the commit: the load the
// fault tests put on the controller.
func (f *repoFixture) configMapApps(t *testing.T, n int) string {
	t.Helper()
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("app%02d/cm.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-%02d}\ndata: {INDEX: %q}\n", i, fmt.Sprint(i))
	}
	rev := f.commit(t, fmt.Sprintf("%d Applications", n), files)
	for i := range n {
		f.create(t, f.application(fmt.Sprintf("app%02d", i), fmt.Sprintf("app%02d", i), nil))
	}
	return rev
}

// waitSynced waits until at least want Applications have synced rev, and
// fails after within.
func (f *repoFixture) waitSynced(t *testing.T, rev string, want int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); f.countSynced(t, rev) < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Applications synced %.12s after %s", f.countSynced(t, rev), want, rev, within)
		}
	}
}

// countSynced is how many of the test's Applications are Ready at rev; -1
// when they cannot be listed.
func (f *repoFixture) countSynced(t *testing.T, rev string) int {
	t.Helper()
	l := &v1.ApplicationList{}
	if err := f.c.List(testenv.Context(t), l, client.InNamespace(f.ns)); err != nil {
		return -1
	}
	done := 0
	for _, a := range l.Items {
		if meta.IsStatusConditionTrue(a.Status.Conditions, v1.ConditionReady) && a.Status.LastAppliedRevision != nil && a.Status.LastAppliedRevision.Commit == rev {
			done++
		}
	}
	return done
}

// eachSyncedOnce fails unless each of the n Applications app00, app01, …
// has exactly one successful Sync record of rev: none lost, none twice.
func (f *repoFixture) eachSyncedOnce(t *testing.T, n int, rev string) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("app%02d", i)
		ok := 0
		recs := f.records(t, name, audit.EventSync)
		for _, r := range recs {
			if r.Revision == rev && r.Result == audit.Succeeded {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%s: %d successful Sync records of %.12s, want exactly 1: %s", name, ok, rev, describe(recs))
		}
	}
}

// waitGone waits until the process has exited.
func waitGone(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("controller process %d did not exit", cmd.Process.Pid)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
