package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// These tests start control planes of their own (rather than sharing one from
// testenv.Main) because what they check is starting and stopping one.

func binaries(t testing.TB) kubebin.Set {
	t.Helper()
	set, err := kubebin.Ensure(t.Context(), kubebin.Options{Progress: os.Stderr})
	if err != nil {
		t.Fatalf("kube binaries: %v", err)
	}
	return set
}

func TestStartServesAPIAndStopLeavesNoProcess(t *testing.T) {
	cp, err := cluster.Start(t.Context(), cluster.Options{Binaries: binaries(t), Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	t.Logf("control plane ready in %s", cp.Started)

	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != kubebin.KubernetesVersion {
		t.Errorf("server version = %q, want %q (version stamps missing?)", v.GitVersion, kubebin.KubernetesVersion)
	}
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Errorf("nodes = %d, want 1", len(nodes.Items))
	}

	pids := cp.PIDs()
	if len(pids) != 5 {
		t.Fatalf("PIDs = %v, want 5 components", pids)
	}
	dir := cp.Dir
	cp.Stop()
	for name, pid := range pids {
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir %s not removed: %v", dir, err)
	}
}

// TestKilledParentLeavesNoProcess starts a control plane in a child process, kills
// that child with SIGKILL (no deferred cleanup runs) and checks that every
// component died with it.
func TestKilledParentLeavesNoProcess(t *testing.T) {
	if os.Getenv("LOCKSTEP_TEST_CHILD") == "start-and-wait" {
		childStartAndWait()
		return
	}
	binaries(t) // build before the child's clock starts
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledParentLeavesNoProcess$")
	// The child is killed before it can clean up, so its state lives in our temp dir.
	cmd.Env = append(os.Environ(), "LOCKSTEP_TEST_CHILD=start-and-wait", "LOCKSTEP_TEST_CHILD_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids map[string]int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			if err := json.Unmarshal([]byte(line), &pids); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if len(pids) != 5 {
		_ = cmd.Process.Kill()
		t.Fatalf("child reported PIDs %v, want 5 components", pids)
	}
	for name, pid := range pids {
		if !proc.Alive(pid) {
			t.Fatalf("%s (pid %d) not running before the kill", name, pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for name, pid := range pids {
		for proc.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) survived its parent's SIGKILL", name, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func childStartAndWait() {
	set, err := kubebin.Ensure(context.Background(), kubebin.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cp, err := cluster.Start(context.Background(), cluster.Options{Binaries: set, Nodes: 1, Dir: os.Getenv("LOCKSTEP_TEST_CHILD_DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	data, _ := json.Marshal(cp.PIDs())
	fmt.Printf("PIDS %s\n", data)
	time.Sleep(5 * time.Minute) // until the parent kills us
	os.Exit(3)
}
