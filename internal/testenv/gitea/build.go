package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/buildcache"
)

// Version of code.gitea.io/gitea built. v1.27 moved to the module path
// gitea.dev, and the Go module proxy refuses two of its dependencies
// (gitea.dev/sdk, gitea.dev/actions-proto-go: 403), so it cannot be built
// here; v1.26.0 builds from the proxy alone.
const Version = "v1.26.0"

// Module is the Go module Gitea is built from.
const Module = "code.gitea.io/gitea"

// buildTags are those of Gitea's release binaries that matter here: SQLite
// (through cgo, so gcc is needed) with its unlock-notify extension, which
// Gitea's own test suite also builds with.
const buildTags = "sqlite sqlite_unlock_notify"

// assets are the folders a binary built without the bindata tag reads at
// run time (STATIC_ROOT_PATH): templates, locales and the few public files
// the module holds. The web UI's compiled JavaScript and CSS are not in the
// module (they are built with npm), so pages render without style; the API
// and Git over HTTP need none of it.
var assets = []string{"templates", "options", "public"}

const (
	binaryName = "gitea"
	stampFile  = ".stamp"
	stamp      = Module + "@" + Version + " tags " + buildTags + "\n"
)

// Build is a cache folder holding a built Gitea and its assets.
type Build struct {
	Dir string
}

// Binary is the path of the gitea binary.
func (b Build) Binary() string { return filepath.Join(b.Dir, binaryName) }

// complete reports whether b holds this Version's build: the stamp is
// written last, so a folder a killed build left has none.
func (b Build) complete() bool {
	got, err := os.ReadFile(filepath.Join(b.Dir, stampFile))
	if err != nil || string(got) != stamp {
		return false
	}
	fi, err := os.Stat(b.Binary())
	return err == nil && fi.Mode()&0o111 != 0
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/lockstep/gitea/<version>:
// outside any checkout, so a fresh clone on the same machine reuses the build.
func DefaultCacheDir() (string, error) { return buildcache.Dir("gitea", Version) }

// BuildOptions control Ensure.
type BuildOptions struct {
	// Dir is where the build lives; DefaultCacheDir() when empty.
	Dir string
	// Progress hears about a build (nothing when the cache has one);
	// io.Discard when nil.
	Progress io.Writer
	// GoCommand is the go tool to build with; "go" from PATH when empty.
	GoCommand string
}

// Ensure returns the cached build, building it first when missing: the
// module's source from the Go module proxy (a module with replace
// directives cannot be go-installed, so it is built inside its own folder of
// the module cache), about five minutes on two cores, once per machine.
// Concurrent callers (several test binaries of one `go test ./...`) are
// serialised by a lock file: one builds, the others wait and reuse it.
func Ensure(ctx context.Context, opts BuildOptions) (Build, error) {
	if opts.Dir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return Build{}, err
		}
		opts.Dir = dir
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.GoCommand == "" {
		opts.GoCommand = "go"
	}
	b := Build{Dir: opts.Dir}
	err := buildcache.Ensure(ctx, opts.Dir, "Gitea "+Version, opts.Progress, b.complete, func() error {
		if err := build(ctx, opts); err != nil {
			return fmt.Errorf("building Gitea %s: %w", Version, err)
		}
		return nil
	})
	if err != nil {
		return Build{}, err
	}
	return b, nil
}

// build downloads the module, builds it into a staging folder beside the
// cache's content with the assets copied next to it, then moves everything
// into place and writes the stamp last. The caller holds the lock.
func build(ctx context.Context, opts BuildOptions) error {
	stale, _ := filepath.Glob(filepath.Join(opts.Dir, ".build-*")) // left by a killed build
	for _, dir := range stale {
		_ = os.RemoveAll(dir)
	}
	_ = os.Remove(filepath.Join(opts.Dir, stampFile))
	stage, err := os.MkdirTemp(opts.Dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	start := time.Now()
	fmt.Fprintf(opts.Progress, "gitea: building %s@%s into %s\n", Module, Version, opts.Dir)
	fmt.Fprintf(opts.Progress, "gitea: this happens once per machine and takes about 5 minutes on 2 cores\n")
	src, err := download(ctx, opts.GoCommand)
	if err != nil {
		return err
	}
	ldflags := fmt.Sprintf("-s -w -X main.Version=%s -X 'main.Tags=%s'", strings.TrimPrefix(Version, "v"), buildTags)
	cmd := exec.CommandContext(ctx, opts.GoCommand, "build", "-trimpath", "-tags", buildTags, "-ldflags", ldflags,
		"-o", filepath.Join(stage, binaryName), ".")
	cmd.Dir = src // inside the module, so its go.mod (replace directives and all) applies
	cmd.Env = append(os.Environ(), goEnv...)
	out, err := runWithHeartbeat(cmd, func(elapsed time.Duration) {
		fmt.Fprintf(opts.Progress, "gitea: still building (%s so far)\n", elapsed.Round(time.Second))
	})
	if err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", src, err, tail(out, 4000))
	}
	for _, name := range assets {
		if err := os.CopyFS(filepath.Join(stage, name), os.DirFS(filepath.Join(src, name))); err != nil {
			return fmt.Errorf("copying %s from the module: %w", name, err)
		}
	}
	for _, name := range append([]string{binaryName}, assets...) {
		dst := filepath.Join(opts.Dir, name)
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(stage, name), dst); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, stampFile), []byte(stamp), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(opts.Progress, "gitea: built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// goEnv keeps the caller's workspace and module flags (GOWORK,
// GOFLAGS=-mod=vendor) out of a module that has neither, and turns cgo on
// for SQLite.
var goEnv = []string{"GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=1"}

// download fetches the module into the module cache and returns its folder
// there (read-only; go build writes nothing into it).
func download(ctx context.Context, goCommand string) (string, error) {
	cmd := exec.CommandContext(ctx, goCommand, "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", Module, Version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w\n%s%s", Module, Version, err, tail(out, 2000), tail(stderr.Bytes(), 2000))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s named no folder: %s", Module, Version, tail(out, 2000))
	}
	return info.Dir, nil
}

// heartbeatEvery is how often a long build says it is still going.
const heartbeatEvery = 30 * time.Second

// runWithHeartbeat runs cmd, calling beat every heartbeatEvery until it
// finishes, so a person watching a five-minute build knows it has not hung.
func runWithHeartbeat(cmd *exec.Cmd, beat func(elapsed time.Duration)) ([]byte, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t0 := time.Now()
		tick := time.NewTicker(heartbeatEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				beat(time.Since(t0))
			}
		}
	}()
	return cmd.CombinedOutput()
}

// tail is the last n bytes of out, where a compiler's error is.
func tail(out []byte, n int) string {
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}
