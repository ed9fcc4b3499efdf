// Package sandbox renders in child processes that can reach nothing but the
// commit's tree: no network, no file, no program, within a memory budget and a
// time limit. A render is the one stage that runs what a Git writer wrote
// (templates, Kustomize plugins' configurations, JSON-schema references,
// Jsonnet), and the libraries that run it reach for URLs and files in more
// places than any list of fields could keep up with; so the class is closed by
// the process, not by checks: the process's seccomp filter refuses every
// system call that opens a file, makes a connection or starts a program, and
// its only view of the repository is the tree the controller serves it over a
// socket.
//
// A render that runs out of time or memory kills only its process: the render
// fails naming the limit, the controller carries on, and the next render
// starts a new process. Processes are kept and reused, so a render costs a
// round trip per file read, not a process start.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/rpc"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/render"
)

// Options size a Pool.
type Options struct {
	// Processes is how many renders run at once.
	Processes int
	// Memory is each render process's budget of memory, in bytes.
	Memory int64
	// Timeout bounds one render.
	Timeout time.Duration
	// MaxOutput bounds the JSON size of one render's objects together, in bytes.
	MaxOutput int64
	// Executable is the binary to start as a render process. Empty: this
	// one when it links the renderers (a test binary, see ServeIfChild),
	// else RenderBinary beside this one.
	Executable string
	// Unconfined starts render processes without their seccomp filter and
	// memory limit: for machines without seccomp (macOS), never for a
	// controller.
	Unconfined bool
}

// DefaultOptions render as many at once as there are cores (at least two),
// each within 1 GiB and a minute, with at most 32 MiB of objects: room for
// the largest public charts (tens of MiB of output would be held, cached and
// compared by the controller, so the output is bounded too).
func DefaultOptions() Options {
	return Options{Processes: max(2, runtime.GOMAXPROCS(0)), Memory: 1 << 30, Timeout: time.Minute, MaxOutput: 32 << 20}
}

// ErrTimeLimit, ErrMemoryLimit and ErrStackLimit are wrapped by the error of
// a render that went over its limit (each also wraps render.ErrLimit).
var (
	ErrTimeLimit   error = &limitError{"the render's time limit"}
	ErrMemoryLimit error = &limitError{"the render's memory budget"}
	ErrStackLimit  error = &limitError{"the render's stack limit"}
)

// limitError names a limit; it is a render.ErrLimit.
type limitError struct{ limit string }

func (e *limitError) Error() string { return e.limit }
func (e *limitError) Unwrap() error { return render.ErrLimit }

// Pool renders in a set of sandboxed processes.
type Pool struct {
	opts Options
	// idle holds one entry per process slot: a running worker, or nil for a
	// slot whose process is yet to start (or died).
	idle chan *worker
	// suspect limits how many slots Applications whose last render went over a
	// limit may hold at once (all but one), so they cannot keep the others
	// waiting.
	suspect chan struct{}

	mu       sync.Mutex
	suspects map[string]time.Time // namespaces with a render over a limit, until when they stay suspect
	closed   bool
}

// New returns a pool; processes start on first use.
func New(opts Options) (*Pool, error) {
	d := DefaultOptions()
	if opts.Processes <= 0 {
		opts.Processes = d.Processes
	}
	if opts.Processes < 2 {
		return nil, fmt.Errorf("render processes: want at least 2 (one stays free of Applications whose renders went over a limit), not %d", opts.Processes)
	}
	if opts.Memory <= 0 {
		opts.Memory = d.Memory
	}
	if opts.Timeout <= 0 {
		opts.Timeout = d.Timeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = d.MaxOutput
	}
	if opts.Executable == "" {
		exe, err := renderExecutable()
		if err != nil {
			return nil, err
		}
		opts.Executable = exe
	} else if abs, err := filepath.Abs(opts.Executable); err != nil {
		return nil, fmt.Errorf("the render binary (--render-binary): %w", err)
	} else if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("the render binary (--render-binary): %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the render binary %s (--render-binary) is not a file", opts.Executable)
	} else {
		opts.Executable = abs // the process starts in /
	}
	p := &Pool{opts: opts, idle: make(chan *worker, opts.Processes),
		suspect: make(chan struct{}, opts.Processes-1), suspects: map[string]time.Time{}}
	for range opts.Processes {
		p.idle <- nil
	}
	return p, nil
}

// RenderBinary is the program render processes run: the renderers (Helm,
// Kustomize, Jsonnet), which the controller's own binary does not link.
const RenderBinary = "lockstep-render"

// renderExecutable finds the program to start as render processes when
// Options name none: this one when it links the renderers, else
// RenderBinary beside it. Never one found on the PATH: a render process is
// handed the commit's files and the decryption keys, and a controller must
// not run whichever program a PATH entry offers.
func renderExecutable() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this program to start render processes: %w", err)
	}
	if selfRenders.Load() {
		return self, nil
	}
	beside := filepath.Join(filepath.Dir(self), RenderBinary)
	if fi, err := os.Stat(beside); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("renders run in %s, which is not beside %s: install it there (make build builds both) or name it with --render-binary", RenderBinary, self)
	}
	return beside, nil
}

// Close stops every idle render process; renders still running finish first.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for range p.opts.Processes {
		if w := <-p.idle; w != nil {
			w.kill()
		}
	}
}

// Render is render.Render in a sandboxed process; opts.Tenant says who asked,
// for fair scheduling.
func (p *Pool) Render(ctx context.Context, fsys fs.FS, dir string, opts render.Options) (*render.Result, error) {
	// Suspicion is the namespace's, not one Application's (a new name starts
	// no cleaner), and lasts suspicionFor whatever renders in between.
	tenant, _, _ := strings.Cut(opts.Tenant, "/")
	args := RenderArgs{Dir: dir}
	var err error
	if args.Options, err = json.Marshal(opts); err != nil {
		return nil, fmt.Errorf("encoding render options: %w", err)
	}
	p.mu.Lock()
	suspect := time.Now().Before(p.suspects[tenant])
	if !suspect {
		delete(p.suspects, tenant)
	}
	p.mu.Unlock()
	if suspect {
		select {
		case p.suspect <- struct{}{}:
			defer func() { <-p.suspect }()
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting to render: %w", context.Cause(ctx))
		}
	}
	var w *worker
	select {
	case w = <-p.idle:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to render: %w", context.Cause(ctx))
	}
	started := time.Now()
	res, w, err := p.renderIn(ctx, w, fsys, args)
	p.idle <- w
	// A render cut short by its caller after half its time limit counts as
	// over it: a sync timeout shorter than the render's must not hide one.
	overLimit := errors.Is(err, ErrTimeLimit) || errors.Is(err, ErrMemoryLimit) || errors.Is(err, ErrStackLimit) ||
		(err != nil && ctx.Err() != nil && time.Since(started) > p.opts.Timeout/2)
	if overLimit {
		p.mu.Lock()
		p.suspects[tenant] = time.Now().Add(suspicionFor)
		p.mu.Unlock()
	}
	return res, err
}

// suspicionFor is how long a namespace whose render went over a limit
// shares the processes but one.
const suspicionFor = time.Hour

// Check starts a render process and renders an empty folder: at start, a
// machine where renders cannot be confined (no seccomp) is an error that
// says why, not a failure of every Application later.
func (p *Pool) Check(ctx context.Context) error {
	_, err := p.Render(ctx, fstest.MapFS{"empty": &fstest.MapFile{Mode: fs.ModeDir}}, "empty", render.Options{Tenant: "(start-up check)"})
	return err
}

// renderIn renders in w, starting a process when w is nil or dead; it returns
// the worker to put back (nil when the process had to be killed).
func (p *Pool) renderIn(ctx context.Context, w *worker, fsys fs.FS, args RenderArgs) (*render.Result, *worker, error) {
	if w != nil && !w.alive() {
		w.kill()
		w = nil
	}
	reused := w != nil
	if w == nil {
		var err error
		if w, err = startWorker(p.opts.Executable, p.opts.Memory, p.opts.MaxOutput, p.opts.Unconfined); err != nil {
			return nil, nil, err
		}
	}
	w.tree.set(fsys)
	defer w.tree.set(nil)
	if reused {
		w.stderr.reset() // why this render's process died, not an earlier one's
	}
	w.reply.reset()
	timer := time.NewTimer(p.opts.Timeout)
	defer timer.Stop()
	var reply RenderReply
	call := w.calls.Go("Sandbox.Render", args, &reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
	case <-timer.C:
		w.kill()
		return nil, nil, &render.Error{File: args.Dir, Err: fmt.Errorf("took longer than %w of %s (the controller's --render-timeout)", ErrTimeLimit, p.opts.Timeout)}
	case <-ctx.Done():
		w.kill()
		return nil, nil, fmt.Errorf("rendering: %w", context.Cause(ctx))
	}
	if call.Error != nil {
		return nil, nil, p.died(w, args.Dir, call.Error)
	}
	if reply.Err != nil {
		return nil, w, reply.Err.err()
	}
	res := &render.Result{Renderer: reply.Renderer, Origins: reply.Origins, Objects: make([]*unstructured.Unstructured, len(reply.Objects))}
	// The folders read only narrow which pushes refresh the Application: too
	// many (or none) from a process that lost its way widen it to every push.
	if len(reply.Inputs) <= maxInputs {
		res.Inputs = reply.Inputs
	}
	if len(reply.Origins) != len(reply.Objects) {
		w.kill()
		return nil, nil, fmt.Errorf("the render process answered %d objects and %d origins", len(reply.Objects), len(reply.Origins))
	}
	for i, data := range reply.Objects {
		res.Size += int64(len(data))
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			return nil, w, &render.Error{File: reply.Origins[i].File, Err: fmt.Errorf("decoding a rendered object: %w", err)}
		}
		res.Objects[i] = o
	}
	return res, w, nil
}

// maxInputs bounds the folders a render may say it read.
const maxInputs = 10000

// died says why a render process stopped answering: its memory budget, or
// something else (never what it printed: a crash message could quote a value).
func (p *Pool) died(w *worker, dir string, callErr error) error {
	w.kill()
	if w.reply.over() {
		return &render.Error{File: dir, Err: fmt.Errorf("%w: more than %d MiB", ErrOutputLimit, p.opts.MaxOutput>>20)}
	}
	if w.stderr.contains("out of memory") || w.stderr.contains("cannot allocate memory") {
		return &render.Error{File: dir, Err: fmt.Errorf("needed more than %w of %d MiB (the controller's --render-memory)", ErrMemoryLimit, p.opts.Memory>>20)}
	}
	if msg, mismatch, ok := w.stderr.startupFailure(); ok {
		if mismatch { // confinement is not the matter
			return fmt.Errorf("the render process cannot start: %s", msg)
		}
		return fmt.Errorf("the render sandbox cannot start: %s (--unsafe-unconfined-renders renders without it)", msg)
	}
	if w.stderr.contains("stack overflow") || w.stderr.contains("stack exceeds") {
		return &render.Error{File: dir, Err: fmt.Errorf("recursed deeper than %w of %d MiB (a function or template that calls itself without end?)", ErrStackLimit, maxStack>>20)}
	}
	if broke := w.broke.Load(); broke != nil {
		// lockstep-render never sends such a message: something rendered in
		// it (this render, or an earlier one) took it over.
		return &render.Error{File: dir, Err: fmt.Errorf("the render process was stopped for breaking the protocol of its file reads (%w); something rendered in it, this render or an earlier one, may have taken it over", *broke)}
	}
	return &render.Error{File: dir, Err: fmt.Errorf("the render process stopped (%v): %v", w.err, callErr)}
}
