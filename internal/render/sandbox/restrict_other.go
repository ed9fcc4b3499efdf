//go:build !linux

package sandbox

import "errors"

func restrict(int64) error {
	return errors.New("renders can be confined only on Linux (seccomp); run with --render-sandbox=false to render in the controller's process")
}
