package cluster

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// Kill kills one component with SIGKILL, as a crash would, and waits until
// it is gone. Names are the kubebin names (kube-apiserver, etcd, ...).
func (cp *ControlPlane) Kill(name string) error {
	p := cp.process(name)
	if p == nil {
		return fmt.Errorf("cluster: no component %q", name)
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.Exited()
	return nil
}

// Restart starts a killed (or running: it is killed first) component again
// with the same flags, ports and data, and waits until it is healthy.
func (cp *ControlPlane) Restart(ctx context.Context, name string) error {
	if err := cp.Kill(name); err != nil {
		return err
	}
	for i, c := range cp.comps {
		if c.spec.Name != name {
			continue
		}
		p, err := proc.Start(c.spec)
		if err != nil {
			return err
		}
		for j, old := range cp.procs {
			if old.Name == name {
				cp.procs[j] = p
			}
		}
		check := c.waitBeforeNext
		if check == nil {
			check = c.waitAfterAll
		}
		if check == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := waitHealthy(ctx, p, check); err != nil {
			return fmt.Errorf("cluster: %s after a restart (component %d): %w", name, i, err)
		}
		return nil
	}
	return fmt.Errorf("cluster: no component %q", name)
}

// Pause stops a component with SIGSTOP: it holds its connections and
// answers nothing, as a process stalled by the kernel or a frozen VM.
// Resume sends SIGCONT.
func (cp *ControlPlane) Pause(name string) error { return cp.signal(name, syscall.SIGSTOP) }

// Resume continues a paused component.
func (cp *ControlPlane) Resume(name string) error { return cp.signal(name, syscall.SIGCONT) }

func (cp *ControlPlane) signal(name string, sig syscall.Signal) error {
	p := cp.process(name)
	if p == nil {
		return fmt.Errorf("cluster: no component %q", name)
	}
	return syscall.Kill(-p.PID(), sig)
}
