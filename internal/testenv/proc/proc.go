// Package proc starts the local control plane's components as child processes that
// cannot outlive their parent, and stops them gracefully.
//
// Two mechanisms make sure nothing survives: every child gets its own process
// group (so Stop reaches anything it spawned) and a parent-death signal (so the
// kernel kills it when the parent dies of a panic, a test timeout or SIGKILL,
// where no deferred cleanup runs).
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	// Name identifies the process in logs and errors, e.g. "kube-apiserver".
	Name string
	// Path and Args are the program and its arguments (without argv[0]).
	Path string
	Args []string
	// Env is added to the parent's environment.
	Env []string
	// Dir is the working directory; the parent's when empty.
	Dir string
	// LogPath receives the process's stdout and stderr.
	LogPath string
}

// Process is a started child process.
type Process struct {
	Spec
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // exit error; valid once done is closed
}

// Start starts spec's process.
func Start(spec Spec) (*Process, error) {
	log, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: opening log: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", spec.Name, spec.Path, err)
	}
	p := &Process{Spec: spec, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited returns a channel closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err returns why the process exited, never nil once Exited is closed (a clean
// exit is reported as "exit status 0": components are not meant to exit at all).
func (p *Process) Err() error {
	select {
	case <-p.done:
		if p.err == nil {
			return errExitedCleanly
		}
		return p.err
	default:
		return nil
	}
}

var errExitedCleanly = errors.New("exit status 0")

// Stop sends SIGTERM to the process group, waits up to grace for the process to
// exit, then sends SIGKILL. It returns once the process has been reaped. Stopping
// an exited process is a no-op.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the process spawned into its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// LogTail returns the last n bytes of the process's log.
func (p *Process) LogTail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	if len(data) > n {
		data = data[len(data)-n:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}

// Alive reports whether pid names a running process. A zombie (exited, not yet
// reaped) counts as gone: kill(pid, 0) would still succeed on it.
func Alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// The parent-death signal is tied to the thread that forked the child, not to the
// process: if that thread exits, the child is killed. Go may retire any thread, so
// every child is forked from one goroutine locked to a thread that never exits.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must live as long as the process
			for req := range spawnReqs {
				req.err <- req.cmd.Start()
			}
		}()
	})
	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnReqs <- req
	return <-req.err
}

// ErrExited is returned by callers that find a component gone before it was ready.
var ErrExited = errors.New("process exited")
