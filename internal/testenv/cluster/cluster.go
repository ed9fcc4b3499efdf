// Package cluster runs a real Kubernetes control plane on this machine: etcd,
// kube-apiserver (TLS, RBAC, service-account tokens), kube-controller-manager with
// every default controller, kube-scheduler, and KWOK simulating kubelets for a few
// fake nodes, all on loopback with free ports. Tests and `lockstep dev` use it;
// nothing in it is a fake of the API server.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// Options control Start.
type Options struct {
	// Binaries holds the component binaries (see kubebin.Ensure).
	Binaries kubebin.Set
	// Dir receives certificates, kubeconfigs, etcd data and component logs. A new
	// temporary folder, removed by Stop, when empty.
	Dir string
	// Nodes is how many fake KWOK nodes to register; 2 when zero.
	Nodes int
	// Progress receives a line per step; io.Discard when nil.
	Progress io.Writer
	// Timeout bounds the whole start; 2 minutes when zero.
	Timeout time.Duration
}

// ControlPlane is a running local control plane.
type ControlPlane struct {
	// Dir holds everything the control plane wrote; Dir/logs holds component logs.
	Dir string
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Ports of each component, by component name.
	Ports map[string]int
	// Started is how long Start took to bring everything up.
	Started time.Duration

	procs   []*proc.Process // in start order
	comps   []component     // what started them, to start one again
	ownsDir bool
}

// Start brings up the control plane and returns once the API server is ready, the
// controller manager, scheduler and KWOK are healthy and every fake node is Ready.
// On error, whatever was started is stopped again. When another process takes one
// of the chosen ports before its component binds it, Start tries again with new
// ports, up to startAttempts times.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	for attempt := 1; ; attempt++ {
		cp, err := start(ctx, opts)
		if !isPortConflict(err) || attempt == startAttempts || ctx.Err() != nil {
			return cp, err
		}
		fmt.Fprintf(opts.Progress, "cluster: a port was taken by another process while starting; trying again with new ports (%d/%d)\n", attempt+1, startAttempts)
		if opts.Dir != "" {
			// The failed attempt's etcd member was advertised on the old ports.
			if err := os.RemoveAll(filepath.Join(opts.Dir, "etcd-data")); err != nil {
				return cp, err
			}
		}
	}
}

const startAttempts = 3

func start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	cp = &ControlPlane{Dir: opts.Dir}
	if cp.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "lockstep-cluster-"); err != nil {
			return nil, err
		}
		cp.ownsDir = true
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, cp.LogTails(2000))
			cp.Stop()
		}
	}()
	for _, sub := range []string{"pki", "logs", "etcd-data", "kwok-home"} {
		if err := os.MkdirAll(filepath.Join(cp.Dir, sub), 0o700); err != nil {
			return cp, err
		}
	}
	if cp.Ports, err = freePorts(componentNames...); err != nil {
		return cp, err
	}
	files, err := writeCredentials(cp.Dir, cp.Ports[apiServer])
	if err != nil {
		return cp, fmt.Errorf("writing certificates and kubeconfigs: %w", err)
	}
	cp.Kubeconfig = files.adminKubeconfig
	if cp.Config, err = loadConfig(cp.Kubeconfig); err != nil {
		return cp, err
	}

	step := func(format string, args ...any) {
		fmt.Fprintf(opts.Progress, "cluster: [+%.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	comps := components(opts.Binaries, cp.Dir, cp.Ports, files)
	cp.comps = comps
	for _, c := range comps {
		p, err := proc.Start(c.spec)
		if err != nil {
			return cp, err
		}
		cp.procs = append(cp.procs, p)
		if c.waitBeforeNext != nil {
			if err := waitHealthy(ctx, p, c.waitBeforeNext); err != nil {
				return cp, err
			}
			step("%s ready", c.spec.Name)
		}
	}
	for _, c := range comps {
		if c.waitAfterAll != nil {
			if err := waitHealthy(ctx, cp.process(c.spec.Name), c.waitAfterAll); err != nil {
				return cp, err
			}
			step("%s healthy", c.spec.Name)
		}
	}
	if err := registerNodes(ctx, cp.Config, opts.Nodes); err != nil {
		return cp, err
	}
	step("%d fake nodes Ready", opts.Nodes)
	cp.Started = time.Since(t0)
	return cp, nil
}

// Stop stops every component, newest first, and removes Dir if Start created it.
// It is safe to call more than once.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		cp.procs[i].Stop(10 * time.Second)
	}
	if cp.ownsDir {
		_ = os.RemoveAll(cp.Dir)
		cp.ownsDir = false
	}
}

// KeepDir makes Stop leave Dir in place, so the logs of a failed run can be read.
func (cp *ControlPlane) KeepDir() { cp.ownsDir = false }

// PIDs returns the process id of every component, by name.
func (cp *ControlPlane) PIDs() map[string]int {
	pids := make(map[string]int, len(cp.procs))
	for _, p := range cp.procs {
		pids[p.Name] = p.PID()
	}
	return pids
}

// Exited reports the first component that has exited on its own, if any.
func (cp *ControlPlane) Exited() error {
	for _, p := range cp.procs {
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited: %w", p.Name, p.Err())
		default:
		}
	}
	return nil
}

// LogTails returns the last n bytes of each component's log, for a failing test.
func (cp *ControlPlane) LogTails(n int) string {
	var b strings.Builder
	for _, p := range cp.procs {
		fmt.Fprintf(&b, "----- %s (%s) -----\n%s\n", p.Name, p.LogPath, p.LogTail(n))
	}
	return b.String()
}

func (cp *ControlPlane) process(name string) *proc.Process {
	for _, p := range cp.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// waitHealthy polls check until it succeeds, the process exits or ctx ends.
func waitHealthy(ctx context.Context, p *proc.Process, check func(context.Context) error) error {
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s: %w before it became ready: %w", p.Name, proc.ErrExited, p.Err())
		case <-ctx.Done():
			return fmt.Errorf("%s: not ready in time: %w", p.Name, errors.Join(ctx.Err(), last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
