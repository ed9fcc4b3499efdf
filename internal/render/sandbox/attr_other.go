//go:build !linux

package sandbox

import "syscall"

func childAttributes() *syscall.SysProcAttr { return nil }
