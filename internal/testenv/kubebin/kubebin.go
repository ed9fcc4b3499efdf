// Package kubebin builds the Kubernetes control-plane binaries (kube-apiserver,
// kube-controller-manager, kube-scheduler, etcd), kubectl and KWOK from Go modules into a
// per-machine cache, and finds them there afterwards.
//
// Nothing is downloaded but Go modules: the machines Lockstep is developed on reach
// the Go module proxy and nothing else, so prebuilt release binaries are not an
// option. A cold build takes about ten minutes on two cores; every later call finds
// the binaries in the cache and returns at once.
package kubebin

import (
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/buildcache"
)

// Versions of what is built. The cache folder is named by the Kubernetes version
// and stamped with all three, so a machine never reuses binaries of other versions.
const (
	KubernetesVersion = "v1.34.3"
	EtcdVersion       = "v3.6.4" // pinned by module/go.mod.txt
	KWOKVersion       = "v0.7.0"
)

// Names of the binaries in a Set's folder.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Etcd              = "etcd"
	KWOK              = "kwok"
	// Kubectl is built too, so `make dev` users have a kubectl that matches the
	// server (Debian's is years older) without installing one.
	Kubectl = "kubectl"
)

// All lists every binary a Set holds.
var All = []string{APIServer, ControllerManager, Scheduler, Etcd, KWOK, Kubectl}

// module holds the build module: k8s.io/kubernetes points its staging modules at
// ./staging with replace directives that only work inside its own repository, so a
// consumer pins every staging module to the matching v0.x release instead. The
// files carry a .txt suffix because a go.mod would make the folder a separate
// module, which go:embed cannot reach.
//
//go:embed module/go.mod.txt module/go.sum.txt module/tools.go.txt
var module embed.FS

// Set is a folder holding every binary in All.
type Set struct {
	Dir string
}

// Path returns the path of the named binary.
func (s Set) Path(name string) string { return filepath.Join(s.Dir, name) }

// DefaultCacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/lockstep/kube/<version>: outside
// any checkout, so a fresh clone on the same machine reuses the build.
func DefaultCacheDir() (string, error) { return buildcache.Dir("kube", KubernetesVersion) }

// Options control Ensure.
type Options struct {
	// Dir is where the binaries live; DefaultCacheDir() when empty.
	Dir string
	// Progress receives one line per step of a build; nothing is written when the
	// binaries are already cached. io.Discard when nil.
	Progress io.Writer
	// GoCommand is the go tool to build with; "go" from PATH when empty.
	GoCommand string
}

// Ensure returns the cached Set, building whatever is missing first. Concurrent
// callers (several test binaries of one `go test ./...`) are serialised by a lock
// file, so only one of them builds and the others wait and reuse its result.
func Ensure(ctx context.Context, opts Options) (Set, error) {
	if opts.Dir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return Set{}, err
		}
		opts.Dir = dir
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.GoCommand == "" {
		opts.GoCommand = "go"
	}
	set := Set{Dir: opts.Dir}
	err := buildcache.Ensure(ctx, opts.Dir, "the Kubernetes binaries", opts.Progress, set.complete, func() error {
		if err := build(ctx, opts); err != nil {
			return err
		}
		if !set.complete() {
			return fmt.Errorf("build finished but %s is incomplete (missing %v)", opts.Dir, set.missing())
		}
		return nil
	})
	if err != nil {
		return Set{}, err
	}
	return set, nil
}

// stamp names every version in a Set; a folder whose stamp differs is rebuilt, so
// bumping etcd or KWOK alone never reuses old binaries.
const stamp = KubernetesVersion + " etcd " + EtcdVersion + " kwok " + KWOKVersion + "\n"

const stampFile = ".versions"

func (s Set) complete() bool {
	got, err := os.ReadFile(filepath.Join(s.Dir, stampFile))
	return err == nil && string(got) == stamp && len(s.missing()) == 0
}

func (s Set) missing() []string {
	var missing []string
	for _, name := range All {
		if fi, err := os.Stat(s.Path(name)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// build writes the embedded module to a temporary folder and runs go build there.
// Binaries are built into a staging folder and renamed into place, so an
// interrupted build never leaves a half-written binary that looks complete.
func build(ctx context.Context, opts Options) error {
	// Work inside the cache folder: the final rename must not cross file systems
	// (/tmp is often a tmpfs).
	stale, _ := filepath.Glob(filepath.Join(opts.Dir, ".build-*")) // left by a killed build
	for _, dir := range stale {
		_ = os.RemoveAll(dir)
	}
	work, err := os.MkdirTemp(opts.Dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, name := range []string{"go.mod", "go.sum", "tools.go"} {
		data, err := module.ReadFile("module/" + name + ".txt")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			return err
		}
	}
	stage := filepath.Join(work, "bin")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return err
	}

	start := time.Now()
	fmt.Fprintf(opts.Progress, "kubebin: building Kubernetes %s (with kubectl), etcd %s and KWOK %s into %s\n", KubernetesVersion, EtcdVersion, KWOKVersion, opts.Dir)
	fmt.Fprintf(opts.Progress, "kubebin: this happens once per machine and takes about 10 minutes on 2 cores\n")
	steps := []struct {
		what string
		dir  string
		env  []string
		args []string
	}{
		{"kube-apiserver, kube-controller-manager, kube-scheduler, kubectl", work, nil,
			[]string{"build", "-ldflags", stripped + " " + versionLDFlags(time.Now()), "-o", stage + "/",
				"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubectl"}},
		{"etcd", work, nil, []string{"build", "-ldflags", stripped, "-o", filepath.Join(stage, Etcd), "go.etcd.io/etcd/server/v3"}},
		// KWOK is built from its own module (go install pkg@version, run outside any
		// module) so its dependencies are the ones it was released with.
		{"kwok", os.TempDir(), []string{"GOBIN=" + stage}, []string{"install", "-ldflags", stripped, "sigs.k8s.io/kwok/cmd/kwok@" + KWOKVersion}},
	}
	for i, step := range steps {
		t0 := time.Now()
		fmt.Fprintf(opts.Progress, "kubebin: [%d/%d] building %s ...\n", i+1, len(steps), step.what)
		cmd := exec.CommandContext(ctx, opts.GoCommand, step.args...)
		cmd.Dir = step.dir
		// The caller's workspace or module flags (GOWORK, GOFLAGS=-mod=vendor) must not
		// leak into a module that has neither.
		cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS="}, step.env...)...)
		out, err := runWithHeartbeat(cmd, func(elapsed time.Duration) {
			fmt.Fprintf(opts.Progress, "kubebin: [%d/%d] still building %s (%s so far)\n", i+1, len(steps), step.what, elapsed.Round(time.Second))
		})
		if err != nil {
			return fmt.Errorf("building %s: %w\n%s", step.what, err, tail(out, 4000))
		}
		fmt.Fprintf(opts.Progress, "kubebin: [%d/%d] %s built in %s\n", i+1, len(steps), step.what, time.Since(t0).Round(time.Second))
	}
	for _, name := range All {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(opts.Dir, name)); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, stampFile), []byte(stamp), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(opts.Progress, "kubebin: done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// stripped links without the symbol table and DWARF debugging data: less
// link time and disk for binaries nobody runs a debugger on here (stack
// traces and profiles read the runtime's own tables, which stay).
const stripped = "-s -w"

// versionLDFlags stamps the version into client-go and component-base. Without it
// the API server reports v0.0.0-master+$Format:%H$ and clients cannot parse it.
func versionLDFlags(now time.Time) string {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	var b strings.Builder
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		fmt.Fprintf(&b, " -X '%s.gitVersion=%s' -X '%s.gitMajor=1' -X '%s.gitMinor=%s' -X '%s.gitTreeState=clean' -X '%s.buildDate=%s'",
			pkg, KubernetesVersion, pkg, pkg, minor, pkg, pkg, now.UTC().Format(time.RFC3339))
	}
	return strings.TrimSpace(b.String())
}

// heartbeatEvery is how often a long build step says it is still going.
const heartbeatEvery = 30 * time.Second

// runWithHeartbeat runs cmd, calling beat every heartbeatEvery until it finishes,
// so a person watching a ten-minute build knows it has not hung.
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

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
