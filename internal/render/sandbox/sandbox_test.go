package sandbox_test

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func newPool(t *testing.T, opts sandbox.Options) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// A sandboxed render gives what an in-process render gives.
func TestSandboxedRenderMatchesInProcess(t *testing.T) {
	fsys := fstest.MapFS{
		"app/deploy.yaml": {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        image: reg.local/web@sha256:" + sha + "\n")},
		"app/cm.yaml":     {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  ratio: \"0.5\"\n")},
	}
	want, err := engine.Render(t.Context(), fsys, "app", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := newPool(t, sandbox.Options{Processes: 2}).Render(t.Context(), fsys, "app", render.Options{Tenant: "ns/app"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Size == 0 {
		t.Error("the sandboxed result does not say its size")
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(render.Result{}, "Size")); diff != "" {
		t.Errorf("sandboxed render differs (-in process +sandboxed):\n%s", diff)
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func withTenant(opts render.Options, tenant string) render.Options {
	opts.Tenant = tenant
	return opts
}
