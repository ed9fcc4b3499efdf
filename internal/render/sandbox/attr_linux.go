package sandbox

import "syscall"

// childAttributes make a render process die with the controller.
func childAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
