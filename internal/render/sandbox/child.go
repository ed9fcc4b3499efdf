package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/version"
)

// Environment of a render process, set by the controller.
const (
	envRole   = "LOCKSTEP_SANDBOX"        // "render" makes this process a render process
	envMemory = "LOCKSTEP_SANDBOX_MEMORY" // the memory budget, in bytes
	envOutput = "LOCKSTEP_SANDBOX_OUTPUT" // the most bytes of rendered objects
	// envVersion is the starting lockstep's version: a render process of
	// another release refuses to start (options it does not know would be
	// dropped without a word).
	envVersion = "LOCKSTEP_SANDBOX_VERSION"
	// envUnconfined "true" skips the seccomp filter and the memory limit
	// (--unsafe-unconfined-renders, for machines without seccomp).
	envUnconfined = "LOCKSTEP_SANDBOX_UNCONFINED"
	roleRender    = "render"
)

// maxErrorMessage bounds the message of a render error sent to the
// controller: a template controls its own failure's text.
const maxErrorMessage = 8 << 10

// maxStack bounds a render goroutine's stack.
const maxStack = 64 << 20

// What a render process that cannot start writes starts with one of these:
// it cannot confine itself (which --unsafe-unconfined-renders would skip), or
// it is the wrong program or release (which nothing but the right one mends;
// the longer prefix, so a controller that knows only the first still reads
// it as a failure to start).
//
// A process that did start writes readyLine first instead, before it reads
// anything: what a render that took the process over writes later cannot
// pass for a failure to start (and advise running unconfined).
const (
	startupFailurePrefix = "lockstep render process: "
	mismatchPrefix       = startupFailurePrefix + "the wrong program or release: "
	readyLine            = "lockstep-render: ready\n"
)

// File descriptors a render process is given, after stdin, stdout and stderr.
const (
	fdCalls = 3 // the controller calls Sandbox.Render on it
	fdTree  = 4 // the process calls Tree.* on it
)

// ServeIfChild makes this process a render process when a Pool started it
// as one (envRole set): it then renders with fn what the controller asks
// until the controller closes the connection, and exits. Otherwise it
// returns at once, and Pools of this process start this binary as their
// render processes rather than lockstep-render: a test binary that links
// the renderers (package renderer calls this from init) renders in
// sandboxes of itself.
func ServeIfChild(fn render.Func) {
	selfRenders.Store(true)
	if os.Getenv(envRole) != roleRender {
		return
	}
	if v := os.Getenv(envVersion); v != releaseAndProtocol() {
		fmt.Fprintf(os.Stderr, "%sthis lockstep-render is %s, started by lockstep %s: install the lockstep-render of the same release beside lockstep\n", mismatchPrefix, releaseAndProtocol(), v)
		os.Exit(3)
	}
	if err := serveRenders(fn); err != nil {
		fmt.Fprintln(os.Stderr, startupFailurePrefix+err.Error())
		os.Exit(3)
	}
	os.Exit(0)
}

// protocol numbers the calls between lockstep and a render process: two
// development builds ("dev") of different commits match by release only.
const protocol = 3

// releaseAndProtocol is what lockstep and a render process must agree on.
func releaseAndProtocol() string { return fmt.Sprintf("%s (protocol %d)", version.Version, protocol) }

// selfRenders is set when this binary links the renderers (ServeIfChild).
var selfRenders atomic.Bool

// RefuseToRender ends this process, saying why, when a Pool started it as a
// render process: lockstep calls it first, since it links no renderer
// (--render-binary naming lockstep instead of lockstep-render).
func RefuseToRender() {
	if os.Getenv(envRole) == roleRender {
		fmt.Fprintln(os.Stderr, mismatchPrefix+"this is lockstep, not lockstep-render: --render-binary names the wrong program")
		os.Exit(3)
	}
}

// serveRenders confines this process (see restrict), then renders what the
// controller asks until it closes the connection.
func serveRenders(fn render.Func) error {
	memory, err := strconv.ParseInt(os.Getenv(envMemory), 10, 64)
	if err != nil || memory <= 0 {
		return fmt.Errorf("%s must be a positive number of bytes", envMemory)
	}
	output, err := strconv.ParseInt(os.Getenv(envOutput), 10, 64)
	if err != nil || output <= 0 {
		return fmt.Errorf("%s must be a positive number of bytes", envOutput)
	}
	calls, err := fileConn(fdCalls)
	if err != nil {
		return err
	}
	tree, err := fileConn(fdTree)
	if err != nil {
		return err
	}
	unconfined := os.Getenv(envUnconfined) == "true"
	os.Clearenv()
	if !unconfined {
		if err := restrict(memory); err != nil {
			return err
		}
	}
	if _, err := os.Stderr.WriteString(readyLine); err != nil {
		return err
	}
	// The garbage collector works harder as the heap nears the budget, so a
	// render that fits is not killed by garbage it has not collected.
	debug.SetMemoryLimit(memory * 3 / 4)
	// A recursion without end (Jsonnet's tailstrict, a template that includes
	// itself) stops at a stack of maxStack, not at the memory budget.
	debug.SetMaxStack(maxStack)
	server := rpc.NewServer()
	// An idle render process keeps none of its last render's garbage.
	svc := &renderService{render: fn, fsys: remoteFS{c: rpc.NewClient(tree)}, maxOutput: output, rendered: whenQuiet(renderQuiet)}
	if err := server.RegisterName("Sandbox", svc); err != nil {
		return err
	}
	server.ServeConn(calls)
	return nil
}

func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "sandbox-"+strconv.Itoa(fd))
	if f == nil {
		return nil, fmt.Errorf("file descriptor %d is missing", fd)
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("file descriptor %d: %w", fd, err)
	}
	return c, nil
}

type renderService struct {
	render    render.Func
	fsys      remoteFS
	maxOutput int64
	rendered  func() // called after each render
}

// renderQuiet is how long a render process waits after a render before it
// gives the memory the render used back: renders come in bursts.
const renderQuiet = 2 * time.Second

// whenQuiet returns a function to call after each render: once none has
// come for quiet, the heap the renders freed goes back to the operating
// system. Go returns it slowly, so an idle render process would otherwise
// keep its last render's peak for minutes; this costs one collection.
func whenQuiet(quiet time.Duration) (rendered func()) {
	t := time.AfterFunc(time.Hour, debug.FreeOSMemory)
	t.Stop()
	return func() { t.Reset(quiet) }
}

// ErrOutputLimit is wrapped when a render's objects together are larger than
// the sandbox's output limit.
var ErrOutputLimit = fmt.Errorf("rendered objects %w", render.ErrLimit)

func (s *renderService) Render(a RenderArgs, reply *RenderReply) error {
	defer s.rendered()
	var opts render.Options
	if err := json.Unmarshal(a.Options, &opts); err != nil {
		reply.Err = toWire(fmt.Errorf("decoding render options: %w", err))
		return nil
	}
	res, err := s.render(context.Background(), s.fsys, a.Dir, opts)
	if err != nil {
		reply.Err = toWire(err)
		if len(reply.Err.Message) > maxErrorMessage {
			reply.Err.Message = reply.Err.Message[:maxErrorMessage] + "... (cut)"
		}
		if strings.Contains(reply.Err.Message, "operation not permitted") {
			reply.Err.Message += " (a render reads only the commit's files: nothing from the network or the controller's disk)"
		}
		return nil
	}
	var size int64
	reply.Renderer, reply.Origins, reply.Inputs = res.Renderer, res.Origins, res.Inputs
	reply.Objects = make([][]byte, len(res.Objects))
	for i, o := range res.Objects {
		data, err := o.MarshalJSON()
		if err != nil {
			reply.Err = toWire(&render.Error{File: res.Origins[i].File, Err: err})
			return nil
		}
		if size += int64(len(data)); size > s.maxOutput {
			reply.Objects, reply.Origins = nil, nil
			reply.Err = toWire(&render.Error{File: a.Dir, Err: fmt.Errorf("%w: more than %d MiB", ErrOutputLimit, s.maxOutput>>20)})
			return nil
		}
		reply.Objects[i] = data
	}
	return nil
}
