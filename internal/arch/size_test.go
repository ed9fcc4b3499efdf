package arch_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The controller's binary keeps only the methods something calls. One call
// of reflect's Method or MethodByName with a name not known when compiling
// (text/template's field lookups, net/rpc's Register, go-cmp's type
// printer) anywhere in a binary makes Go's linker keep every exported method
// of every type: the controller's binary was 89 MB of code and read-only
// data with them, 57 MB without, and its resident memory follows (see
// BENCHMARKS.md). Helm's templates therefore run in lockstep-render only.
func TestTheBinaryKeepsOnlyTheMethodsItCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("links the binary")
	}
	module := "github.com/lockstep-dev/lockstep/"
	// Importing such a package is harmless; reaching the call is not. The
	// linker's -dumpdep marks each reachable function that calls a method by
	// a name it cannot know <ReflectMethod>.
	cmd := exec.CommandContext(t.Context(), "go", "build", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "lockstep"), module+"cmd/lockstep")
	// As make builds it: with cgo, Go's plugin package (which Kustomize's
	// krusty imports, for lockstep install) makes the linker keep every
	// symbol anyway.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var deps bytes.Buffer
	cmd.Stderr = &deps
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%.2000s", err, deps.String())
	}
	printed := deps.Len()
	found := map[string]bool{}
	lines := bufio.NewScanner(&deps)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		// The linker writes a symbol's marks after it, run together
		// ("<UsedInIface><ReflectMethod>").
		if _, to, ok := strings.Cut(lines.Text(), " -> "); ok && strings.Contains(to, "<ReflectMethod>") {
			name, _, _ := strings.Cut(to, " <")
			found[name] = true
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	for fn := range found {
		t.Errorf("cmd/lockstep reaches %s, which calls a method by a name known only when running: the linker keeps every exported method of every type (go build -ldflags=-dumpdep ./cmd/lockstep 2>&1 | grep ReflectMethod, then find who reaches it)", fn)
	}
	if printed < 1<<20 {
		t.Fatalf("go build -ldflags=-dumpdep printed %d bytes, not the linker's dependency graph", printed)
	}
}
