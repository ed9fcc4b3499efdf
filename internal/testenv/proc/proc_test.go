package proc_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

func start(t testing.TB, script string) *proc.Process {
	t.Helper()
	p, err := proc.Start(proc.Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, LogPath: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for proc.Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if proc.Alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("%s (pid %d) still running", what, pid)
	}
}

// Stop escalates to SIGKILL for a process that ignores SIGTERM, and takes the
// processes it spawned (its process group) down too.
func TestStopKillsStubbornProcessAndItsChildren(t *testing.T) {
	p := start(t, `trap "" TERM; sleep 300 & echo "child $!"; wait`)
	var child int
	deadline := time.Now().Add(5 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		if _, err := fmt.Sscanf(p.LogTail(100), "child %d", &child); err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if child == 0 {
		t.Fatalf("the script never reported its child; log: %q", p.LogTail(100))
	}
	t0 := time.Now()
	p.Stop(300 * time.Millisecond)
	if waited := time.Since(t0); waited < 300*time.Millisecond {
		t.Errorf("Stop returned after %s, before the grace period; SIGTERM should have been ignored", waited)
	}
	waitGone(t, "stubborn shell", p.PID())
	waitGone(t, "its sleep child", child)
	p.Stop(time.Second) // stopping twice is harmless
}

func TestLogTailAndExit(t *testing.T) {
	p := start(t, `for i in 1 2 3; do echo "line $i"; done; exit 7`)
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("process did not exit")
	}
	if got := p.LogTail(10); got != "line 3\n" {
		t.Errorf("LogTail(10) = %q, want the last whole line", got)
	}
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "exit status 7") {
		t.Errorf("Err() = %v, want exit status 7", p.Err())
	}
}

// The child modes run in a re-executed test binary that starts `sleep` through proc
// and then dies without cleaning up; the sleep must die with it.
func TestChildrenDieWithTheirParent(t *testing.T) {
	if mode := os.Getenv("PROC_TEST_MODE"); mode != "" {
		childMain(t, mode)
		return
	}
	for _, mode := range []string{"panic", "sigkill", "exit", "timeout"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildrenDieWithTheirParent$", "-test.timeout=3s")
			cmd.Env = append(os.Environ(), "PROC_TEST_MODE="+mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			// The child waits for a line on stdin before it dies, so the parent sees
			// its sleep alive first.
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), "SLEEP "); ok {
					pid, _ = strconv.Atoi(s)
					break
				}
			}
			if pid == 0 || !proc.Alive(pid) {
				t.Fatalf("child did not report a running sleep (pid %d)", pid)
			}
			if mode == "sigkill" {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
			_, _ = in.Write([]byte("go\n"))
			go func() { _, _ = bufio.NewReader(out).WriteTo(devNull{}) }()
			_ = cmd.Wait()
			waitGone(t, "sleep started by a "+mode+" parent", pid)
		})
	}
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

func childMain(t *testing.T, mode string) {
	p := start(t, "exec sleep 300")
	fmt.Printf("SLEEP %d\n", p.PID())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent has looked
	switch mode {
	case "panic":
		panic("deliberate panic in a test child")
	case "exit":
		os.Exit(4) // no deferred cleanup, no t.Cleanup
	case "sigkill", "timeout":
		time.Sleep(time.Minute) // killed by the parent, or by -test.timeout=3s
	}
}
