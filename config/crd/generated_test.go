package crd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// controllerGen is the version `make generate` runs.
const controllerGen = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"

// The embedded CRD must be what controller-gen makes of api/ today: a field added
// to the types without `make generate` would be silently dropped by the API
// server (it prunes unknown fields), which is how such a mistake shows up.
func TestCRDsAreGeneratedFromTheTypes(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "run", controllerGen, "crd:crdVersions=v1", "paths=./api/...", "output:crd:artifacts:config="+out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, msg)
	}
	generated, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("controller-gen wrote nothing (%v)", err)
	}
	for _, g := range generated {
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", filepath.Base(g)))
		if err != nil {
			t.Fatalf("%s is generated but not checked in: run make generate", filepath.Base(g))
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("config/crd/bases/%s is stale: run make generate (-generated +checked in):\n%s", filepath.Base(g), diff)
		}
	}
}
