// Package buildcache keeps what the tests build from Go modules (the
// Kubernetes binaries, Gitea, the OCI registry) in a folder per machine,
// outside any checkout: a fresh clone reuses the builds, and several test
// binaries of one `go test ./...` build each thing once.
package buildcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Dir is ${XDG_CACHE_HOME:-$HOME/.cache}/lockstep/<name>/<version>.
func Dir(name, version string) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locating the build cache: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "lockstep", name, version), nil
}

// Ensure makes dir hold a complete build: when complete says it does not,
// it takes dir's lock (waiting for another process building it, and telling
// progress about what it waits for), looks again, and runs build, which
// must leave it complete.
func Ensure(ctx context.Context, dir, what string, progress io.Writer, complete func() bool, build func() error) error {
	if complete() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the build cache %s: %w", dir, err)
	}
	unlock, err := lock(ctx, filepath.Join(dir, ".lock"), what, progress)
	if err != nil {
		return err
	}
	defer unlock()
	if complete() { // another process built it while this one waited
		return nil
	}
	if err := build(); err != nil {
		return err
	}
	if !complete() {
		return fmt.Errorf("building %s: the build finished but %s is incomplete", what, dir)
	}
	return nil
}

// lock takes an exclusive flock on path, polling so ctx can cancel the wait.
func lock(ctx context.Context, path, what string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the build lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(progress, "another process is building %s; waiting for it (%s)\n", what, path)
			told = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
