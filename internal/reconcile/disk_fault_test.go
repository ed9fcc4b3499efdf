package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// The controller's data volume (a 32 MiB tmpfs) fills up while a commit
// waits: the ledger refuses, the Application says so (condition and Warning
// Event), nothing is applied unrecorded; when space returns, the commit is
// applied and recorded, and the chain verifies.
func TestDataVolumeFull(t *testing.T) {
	f := newRepo(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs for the data volume (the tests run as root, as CI does): %v: %s", err, out)
	}
	defer func() { _ = exec.Command("umount", "-l", dir).Run() }()

	shared.stop()
	<-shared.done
	proc := killableController(t, "--data-dir", dir)
	defer func() {
		_ = proc.Process.Signal(syscall.SIGKILL)
		shared.start(t)
	}()
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	// Full.
	filler := filepath.Join(dir, "filler")
	fill, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := fill.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = fill.Close()
	second := f.commit(t, "second", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "hello again", 1)})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonLedgerUnavailable, "")
	if msg := readyMessage(app); !strings.Contains(msg, "nothing more is applied") {
		t.Errorf("the condition does not say what it means: %s", msg)
	}
	eventually(t, 30*time.Second, "a Warning Event says the ledger is unavailable", func(ctx context.Context) (bool, error) {
		evs := &corev1.EventList{}
		if err := f.c.List(ctx, evs, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == v1.ReasonLedgerUnavailable && e.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	})
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil || cm.Data["GREETING"] != "hello" {
		t.Fatalf("the ConfigMap while the ledger refused: %v, %v; want it unchanged", cm.Data, err)
	}

	// Space returns: the commit is applied and recorded.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	t.Logf("applied %s after space returned", time.Since(freed).Round(time.Millisecond))
	if c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady); c == nil || app.Status.LastAppliedRevision.Commit != second {
		t.Errorf("after the disk was freed: %+v", app.Status)
	}
	_ = proc.Process.Signal(syscall.SIGTERM)
	waitGone(t, proc)

	out := runLocal(t, "audit", "verify", "--db", filepath.Join(dir, "ledger.db"))
	if !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify of the ledger on the full volume: %s", out)
	}
	hist := runLocal(t, "audit", "--db", filepath.Join(dir, "ledger.db"), "--app", f.ns+"/web")
	if strings.Count(hist, second[:12]) < 1 || !strings.Contains(hist, "LedgerUnavailable") && !strings.Contains(hist, "SourceFailed") {
		t.Errorf("the ledger lacks the sync of %.12s or the refusal before it:\n%s", second, hist)
	}
}

// runLocal runs the CLI in this process without a server or kubeconfig.
func runLocal(t *testing.T, args ...string) string {
	t.Helper()
	var buf bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	err := cmd.ExecuteContext(testenv.Context(t))
	out := buf.String()
	if err != nil {
		t.Fatalf("lockstep %v: %v\n%s", args, err, out)
	}
	return out
}
