package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// worker is one render process and the controller's ends of its sockets.
type worker struct {
	cmd    *exec.Cmd
	calls  *rpc.Client
	reply  *cappedConn // the calls connection, counting what a render sends back
	tree   *treeService
	conns  []net.Conn
	stderr *headBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited; set before exited is closed
	// broke is why the tree connection was cut, before the process was
	// killed for it: how it broke the protocol.
	broke atomic.Pointer[error]
}

// startWorker starts a render process of executable with a memory budget,
// confined unless unconfined.
func startWorker(executable string, memory, output int64, unconfined bool) (*worker, error) {
	calls, childCalls, err := socketPair()
	if err != nil {
		return nil, err
	}
	tree, childTree, err := socketPair()
	if err != nil {
		calls.Close()
		childCalls.Close()
		return nil, err
	}
	defer childCalls.Close()
	defer childTree.Close()
	w := &worker{tree: &treeService{}, stderr: &headBuffer{max: 4096}, exited: make(chan struct{})}
	w.cmd = exec.Command(executable)
	// Nothing of the controller's environment (tokens, proxies, kubeconfig
	// paths) reaches a render.
	w.cmd.Env = []string{
		envRole + "=" + roleRender,
		envMemory + "=" + strconv.FormatInt(memory, 10),
		envOutput + "=" + strconv.FormatInt(output, 10),
		envVersion + "=" + releaseAndProtocol(),
		"GOTRACEBACK=none", // a crash prints why, not the stacks (whose arguments could hold values)
	}
	if unconfined {
		w.cmd.Env = append(w.cmd.Env, envUnconfined+"=true")
	}
	w.cmd.Dir = "/"
	w.cmd.ExtraFiles = []*os.File{childCalls, childTree} // fds 3 and 4
	w.cmd.Stderr = w.stderr
	w.cmd.SysProcAttr = childAttributes()
	// Once the process is gone, its standard error is read no longer than
	// this: whatever holds it open (nothing should: it cannot fork) does
	// not hold the worker's slot.
	w.cmd.WaitDelay = time.Second
	if err := w.cmd.Start(); err != nil {
		calls.Close()
		tree.Close()
		return nil, fmt.Errorf("starting a render process: %w", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	callsConn, err := net.FileConn(calls)
	calls.Close()
	if err != nil {
		w.kill()
		tree.Close()
		return nil, err
	}
	treeConn, err := net.FileConn(tree)
	tree.Close()
	if err != nil {
		callsConn.Close()
		w.kill()
		return nil, err
	}
	w.reply = &cappedConn{Conn: callsConn, max: 2*output + 1<<20} // JSON objects, gob's framing, an error
	w.conns = []net.Conn{callsConn, treeConn}
	w.calls = rpc.NewClient(w.reply)
	go func() {
		if err := serveTree(treeConn, w.tree); err != nil {
			w.broke.Store(&err)
		}
		// A process that broke the protocol renders nothing more; one
		// already killed is not hurt.
		_ = w.cmd.Process.Kill()
	}()
	return w, nil
}

// socketPair returns the two ends of a connected Unix stream socket pair.
func socketPair() (*os.File, *os.File, error) {
	syscall.ForkLock.RLock() // no other fork inherits them before close-on-exec is set
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("creating a socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sandbox"), os.NewFile(uintptr(fds[1]), "sandbox-child"), nil
}

// kill ends the process and waits until it is gone.
func (w *worker) kill() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	for _, c := range w.conns {
		c.Close()
	}
	<-w.exited
}

func (w *worker) alive() bool {
	if w.broke.Load() != nil {
		return false // killed for breaking the protocol: never put back for another render
	}
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// headBuffer keeps the first max bytes written: enough of a dead render
// process's stderr to tell why it died (the Go runtime's "fatal error" line
// comes first), never kept for long.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	// later is set once the buffer was reset for a later render: the
	// process started long ago, and nothing it writes is a startup failure.
	later bool
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *headBuffer) reset() {
	t.mu.Lock()
	t.buf, t.later = t.buf[:0], true
	t.mu.Unlock()
}

func (t *headBuffer) contains(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.buf, []byte(s))
}

// cappedConn fails reads past max bytes since the last reset: a render
// process cannot make the controller read (and hold) more than its output
// limit, whatever it sends.
type cappedConn struct {
	net.Conn
	max  int64
	read atomic.Int64
}

var errReplyTooLarge = errors.New("the render process sent more than its output limit")

func (c *cappedConn) Read(p []byte) (int, error) {
	if c.read.Load() > c.max {
		return 0, errReplyTooLarge
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *cappedConn) over() bool { return c.read.Load() > c.max }
func (c *cappedConn) reset()     { c.read.Store(0) }

// startupFailure returns the reason a render process gave for not starting
// (it writes it before it reads anything, so it quotes nothing of a tenant's;
// one that started wrote readyLine first, so nothing it writes later is
// taken for such a reason).
func (t *headBuffer) startupFailure() (msg string, mismatch, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.later {
		return "", false, false
	}
	line, mismatch := bytes.CutPrefix(t.buf, []byte(mismatchPrefix)) // the longer first
	if !mismatch {
		if line, ok = bytes.CutPrefix(t.buf, []byte(startupFailurePrefix)); !ok {
			return "", false, false
		}
		// Render processes of the weeks before mismatchPrefix named
		// themselves in the message instead.
		mismatch = bytes.Contains(line, []byte("lockstep-render"))
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	return string(line), mismatch, true
}
