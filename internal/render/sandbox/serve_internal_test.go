package sandbox

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// serveTestTree serves a tree of one file on one end of a pipe, and returns
// the other end and what serveTree returns when it stops.
func serveTestTree() (net.Conn, <-chan error) {
	ours, theirs := net.Pipe()
	tree := &treeService{}
	tree.set(fstest.MapFS{"app/cm.yaml": {Data: []byte("kind: ConfigMap\n")}})
	served := make(chan error, 1)
	go func() { served <- serveTree(ours, tree) }()
	return theirs, served
}

// The tree is served as rpc.Server would serve it: an rpc.Client reads files
// and is told of a method that is not there.
func TestServeTreeAnswersAnRPCClient(t *testing.T) {
	theirs, served := serveTestTree()
	c := rpc.NewClient(theirs)
	var file FileReply
	if err := c.Call("Tree.ReadFile", PathArgs{Name: "app/cm.yaml"}, &file); err != nil || file.Err != nil || string(file.Data) != "kind: ConfigMap\n" {
		t.Fatalf("ReadFile: %q, %v, %v", file.Data, file.Err, err)
	}
	var dir DirReply
	if err := c.Call("Tree.ReadDir", PathArgs{Name: "app"}, &dir); err != nil || len(dir.Entries) != 1 {
		t.Fatalf("ReadDir: %+v, %v", dir, err)
	}
	var info InfoReply
	if err := c.Call("Tree.Stat", PathArgs{Name: "../etc/passwd"}, &info); err != nil || info.Err == nil {
		t.Fatalf("Stat outside the tree: %+v, %v", info, err)
	}
	if err := c.Call("Tree.Remove", PathArgs{Name: "app"}, &info); err == nil || !strings.Contains(err.Error(), "can't find method") {
		t.Fatalf("an unknown method: %v", err)
	}
	var again InfoReply
	if err := c.Call("Tree.Stat", PathArgs{Name: "app"}, &again); err != nil || again.Err != nil || !again.Info.IsDir() {
		t.Fatalf("a call after an unknown method: %+v, %v", again, err)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatalf("a connection the client closed ended the server with %v; want nil (nothing broken)", err)
	}
}

// A render process that sends a message longer than maxTreeRequest, or
// claims to, loses its connection before the controller reads or sizes a
// buffer for it.
func TestServeTreeRefusesAnOversizedMessage(t *testing.T) {
	var longPath bytes.Buffer
	enc := gob.NewEncoder(&longPath)
	_ = enc.Encode(&rpc.Request{ServiceMethod: "Tree.Stat", Seq: 1})
	_ = enc.Encode(PathArgs{Name: strings.Repeat("a", 1<<20)})
	// Arguments of a type made of 40 other types, and a Name, which
	// PathArgs would take: 41 definitions first, each one small.
	var types bytes.Buffer
	fields := []reflect.StructField{{Name: "Name", Type: reflect.TypeFor[string]()}}
	for i := range 40 {
		inner := reflect.StructOf([]reflect.StructField{{Name: fmt.Sprintf("X%d", i), Type: reflect.TypeFor[string]()}})
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: inner})
	}
	enc = gob.NewEncoder(&types)
	_ = enc.Encode(&rpc.Request{ServiceMethod: "Tree.Stat", Seq: 1})
	args := reflect.New(reflect.StructOf(fields)).Elem()
	args.Field(0).SetString("app")
	for i := 1; i < args.NumField(); i++ {
		args.Field(i).Field(0).SetString("x") // gob sends no empty struct's type
	}
	if err := enc.EncodeValue(args); err != nil {
		t.Fatal(err)
	}
	for name, message := range map[string][]byte{
		"a path of 1 MiB":                 longPath.Bytes(),
		"41 type definitions":             types.Bytes(),
		"a length of 8 GiB, then nothing": {0xfb, 0x02, 0x00, 0x00, 0x00, 0x00}, // -5: five bytes follow
		"a length of nine bytes":          {0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	} {
		t.Run(name, func(t *testing.T) {
			ours, theirs := net.Pipe()
			tree := &treeService{}
			tree.set(fstest.MapFS{})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			served := make(chan error, 1)
			go func() { served <- serveTree(ours, tree) }()
			go func() { _, _ = theirs.Write(message) }()
			select {
			case err := <-served:
				if !errors.Is(err, errProtocol) {
					t.Errorf("the server ended with %v; want %v, for the process to be told why it was stopped", err, errProtocol)
				}
				if err != nil && strings.Contains(err.Error(), "8589934592") {
					t.Errorf("the error quotes the length the process claimed: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server still reads")
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 512<<10 {
				t.Errorf("the server allocated %d KiB for a refused message", grew>>10)
			}
			if _, err := theirs.Write([]byte{0}); err == nil {
				t.Error("the connection is still open")
			}
		})
	}
}

// A render asking about a name too long for the protocol is told so, and
// its process goes on: the name never reaches the controller.
func TestARenderProcessRefusesANameTooLongToAsk(t *testing.T) {
	theirs, served := serveTestTree()
	fsys := remoteFS{c: rpc.NewClient(theirs)}
	long := strings.Repeat("a/", 20<<10)
	if _, err := fsys.ReadFile(long); err == nil || !strings.Contains(err.Error(), "over the 32 KiB") {
		t.Fatalf("a name of %d bytes: %v", len(long), err)
	}
	if data, err := fsys.ReadFile("app/cm.yaml"); err != nil || string(data) != "kind: ConfigMap\n" {
		t.Fatalf("a read after the refused name: %q, %v", data, err)
	}
	fsys.c.Close()
	if err := <-served; err != nil {
		t.Fatalf("the server ended with %v", err)
	}
}

// Only a process that never started says why it did not: what a render
// writes to a started process's standard error cannot pass for it (and
// have the controller advise running renders unconfined).
func TestOnlyAProcessThatDidNotStartGivesAStartupFailure(t *testing.T) {
	for _, c := range []struct {
		name, stderr      string
		reset             bool
		failure, mismatch bool
	}{
		{"cannot confine itself", startupFailurePrefix + "seccomp: not supported\n", false, true, false},
		{"the wrong release", "lockstep render process: the wrong program or release: this lockstep-render is v2\n", false, true, true},
		{"the wrong release, as said before its own prefix", startupFailurePrefix + "this lockstep-render is dev, started by lockstep dev (protocol 3)\n", false, true, true},
		{"started, then a render wrote the prefix", readyLine + startupFailurePrefix + "forged\n", false, false, false},
		{"a later render wrote the prefix", startupFailurePrefix + "forged\n", true, false, false},
		{"a crash", "fatal error: out of memory\n", false, false, false},
	} {
		h := &headBuffer{max: 4096}
		if c.reset {
			h.reset()
		}
		_, _ = h.Write([]byte(c.stderr))
		msg, mismatch, failure := h.startupFailure()
		if failure != c.failure || mismatch != c.mismatch || failure && (strings.Contains(msg, "lockstep render process") || strings.Contains(msg, "\n")) {
			t.Errorf("%s: %q, mismatch %v, failure %v; want mismatch %v, failure %v, and the reason alone", c.name, msg, mismatch, failure, c.mismatch, c.failure)
		}
	}
}

// A render process killed for breaking the tree's protocol is not put back,
// and the render that was running is told why it failed.
func TestARenderProcessThatBrokeTheProtocolIsToldWhy(t *testing.T) {
	w := &worker{cmd: &exec.Cmd{}, stderr: &headBuffer{max: 4096}, reply: &cappedConn{max: 1 << 20}, exited: make(chan struct{})}
	if !w.alive() {
		t.Fatal("a running process is not alive")
	}
	broke := fmt.Errorf("%w: a message over 64 KiB", errProtocol)
	w.broke.Store(&broke)
	if w.alive() {
		t.Fatal("a process killed for breaking the protocol would render again")
	}
	close(w.exited) // killed: died waits for that
	p := &Pool{opts: DefaultOptions()}
	err := p.died(w, "app", io.ErrUnexpectedEOF)
	if !strings.Contains(err.Error(), "breaking the protocol of its file reads") || !strings.Contains(err.Error(), "over 64 KiB") {
		t.Fatalf("died: %v", err)
	}
}

// A message framed right but not the protocol inside is a break of it,
// whether or not the connection ends after it; a message cut short by the
// connection's end is an end (the process died, or was killed).
func TestServeTreeTellsABrokenProtocolFromAnEnd(t *testing.T) {
	for _, c := range []struct {
		name    string
		message []byte
		close   bool
		broke   bool
	}{
		{"a value of a type never defined", []byte{0x02, 0x40, 0x00}, false, true},
		{"a value of a type never defined, then the end", []byte{0x02, 0x40, 0x00}, true, true},
		{"half a message, then the end", []byte{0x05, 0x01}, true, false},
		{"nothing, then the end", nil, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := net.Pipe()
			tree := &treeService{}
			tree.set(fstest.MapFS{})
			served := make(chan error, 1)
			go func() { served <- serveTree(ours, tree) }()
			go func() {
				if len(c.message) > 0 {
					_, _ = theirs.Write(c.message)
				}
				if c.close {
					theirs.Close()
				}
			}()
			select {
			case err := <-served:
				if broke := errors.Is(err, errProtocol); broke != c.broke {
					t.Errorf("the server ended with %v; want a break of the protocol: %v", err, c.broke)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server still reads")
			}
			theirs.Close()
		})
	}
}

// A render process that started says so before anything else it writes.
func TestARenderProcessSaysItStarted(t *testing.T) {
	p, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := <-p.idle
		started := w != nil && bytes.HasPrefix(headOf(w.stderr), []byte(readyLine))
		p.idle <- w
		if started {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no render process's standard error starts with the line that says it started")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func headOf(t *headBuffer) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf)
}
