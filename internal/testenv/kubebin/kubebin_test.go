package kubebin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fakeSet(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stampFile), []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEnsureReusesACompleteCacheWithoutBuilding(t *testing.T) {
	dir := fakeSet(t, All...)
	var progress bytes.Buffer
	set, err := Ensure(t.Context(), Options{Dir: dir, Progress: &progress, GoCommand: "/nonexistent/go"})
	if err != nil {
		t.Fatalf("Ensure on a complete cache: %v", err)
	}
	if set.Path(APIServer) != filepath.Join(dir, APIServer) {
		t.Errorf("Path(%s) = %s", APIServer, set.Path(APIServer))
	}
	if progress.Len() != 0 {
		t.Errorf("a cached Ensure printed %q; it should be silent", progress.String())
	}
}

func TestEnsureRebuildsWhenTheVersionsChanged(t *testing.T) {
	dir := fakeSet(t, All...)
	if err := os.WriteFile(filepath.Join(dir, stampFile), []byte("v1.0.0 etcd v3.0.0 kwok v0.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	_, err := Ensure(t.Context(), Options{Dir: dir, Progress: &progress, GoCommand: "/nonexistent/go"})
	if err == nil || !strings.Contains(progress.String(), "this happens once per machine") {
		t.Errorf("a cache of other versions was reused (err %v, progress %q)", err, progress.String())
	}
}

func TestEnsureBuildsWhenABinaryIsMissingAndReportsBuildFailures(t *testing.T) {
	dir := fakeSet(t, APIServer, Etcd)                                // the rest are missing
	if err := os.Chmod(filepath.Join(dir, Etcd), 0o644); err != nil { // not executable: counts as missing
		t.Fatal(err)
	}
	fakeGo := filepath.Join(t.TempDir(), "go")
	if err := os.WriteFile(fakeGo, []byte("#!/bin/sh\necho 'compile error: something broke' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	_, err := Ensure(t.Context(), Options{Dir: dir, Progress: &progress, GoCommand: fakeGo})
	if err == nil || !strings.Contains(err.Error(), "compile error: something broke") {
		t.Errorf("Ensure with a failing go: err = %v, want the compiler's message", err)
	}
	if !strings.Contains(progress.String(), "this happens once per machine") {
		t.Errorf("no progress message before a build: %q", progress.String())
	}
	if _, err := os.Stat(filepath.Join(dir, ControllerManager)); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s behind (err %v)", ControllerManager, err)
	}
}

func TestEnsureWaitsForAnotherBuilderAndHonoursCancellation(t *testing.T) {
	dir := fakeSet(t) // empty: a build would be needed
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var progress bytes.Buffer
	_, err = Ensure(ctx, Options{Dir: dir, Progress: &progress, GoCommand: "/nonexistent/go"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ensure while another process holds the lock: err = %v, want the context's deadline", err)
	}
	if !strings.Contains(progress.String(), "another process is building") {
		t.Errorf("progress %q does not say it is waiting", progress.String())
	}
}

func TestVersionStamps(t *testing.T) {
	flags := versionLDFlags(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion,
		"k8s.io/component-base/version.gitMinor=34",
		"buildDate=2026-01-02T03:04:05Z",
	} {
		if !strings.Contains(flags, want) {
			t.Errorf("ldflags %q lack %q", flags, want)
		}
	}
}
