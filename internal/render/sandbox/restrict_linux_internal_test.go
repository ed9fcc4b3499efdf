package sandbox

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envForkProbe makes this test binary, started again by
// TestAConfinedProcessCannotStartAnother, confine itself and try.
const envForkProbe = "LOCKSTEP_TEST_FORK_PROBE"

// A confined render process makes threads, and no process: a process it
// started would outlive its kill.
func TestAConfinedProcessCannotStartAnother(t *testing.T) {
	if os.Getenv(envForkProbe) == "1" {
		forkProbe()
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestAConfinedProcessCannotStartAnother$", "-test.count=1")
	cmd.Env = append(os.Environ(), envForkProbe+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the probe failed: %v\n%s", err, out)
	}
	for _, want := range []string{"threads: ok", "clone: operation not permitted", "clone3: function not implemented"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the probe did not say %q:\n%s", want, out)
		}
	}
	if runtime.GOARCH == "amd64" && !strings.Contains(string(out), "fork: operation not permitted") {
		t.Errorf("the probe did not say fork was refused:\n%s", out)
	}
}

// forkProbe confines this process as a render process is, then makes
// threads and tries to start a process every way Linux offers, printing what
// each did. A call that starts one anyway has its new process exit at once.
func forkProbe() {
	if err := restrict(1 << 30); err != nil {
		println("restrict:", err.Error())
		os.Exit(2)
	}
	var wg sync.WaitGroup
	for range 8 { // threads locked to goroutines: the runtime must make new ones
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			time.Sleep(10 * time.Millisecond)
		}()
	}
	wg.Wait()
	println("threads: ok")
	try := func(name string, trap uintptr, args ...uintptr) {
		a := append(args, 0, 0, 0, 0, 0, 0)
		pid, _, errno := syscall.RawSyscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
		if errno == 0 && pid == 0 {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the new process: gone at once
		}
		if errno == 0 {
			println(name+": started process", pid)
			return
		}
		println(name+":", errno.Error())
	}
	try("clone", unix.SYS_CLONE, uintptr(syscall.SIGCHLD))
	try("clone3", unix.SYS_CLONE3, 0, 0) // refused before it reads its arguments
	if runtime.GOARCH == "amd64" {
		try("fork", 57) // SYS_FORK on amd64; arm64 has none
	}
}
