package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
	"github.com/lockstep-dev/lockstep/internal/version"
)

// buildRenderBinary builds cmd/lockstep-render as make does, with ldflags.
func buildRenderBinary(t *testing.T, ldflags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), sandbox.RenderBinary)
	build := exec.CommandContext(t.Context(), "go", "build", "-ldflags", ldflags, "-o", bin, "github.com/lockstep-dev/lockstep/cmd/lockstep-render")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockstep-render, as the controller starts it, renders a chart, and
// confined: a values schema that names a host file fails without reading it.
func TestTheRenderBinaryRendersConfined(t *testing.T) {
	pool := newPool(t, sandbox.Options{Executable: buildRenderBinary(t, "-X github.com/lockstep-dev/lockstep/internal/version.Version="+version.Version), Processes: 2, Timeout: 20 * time.Second})
	chart := map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/values.yaml":       "greeting: hello\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {greeting: {{ .Values.greeting }}}\n",
	}
	res, err := pool.Render(t.Context(), mapFS(chart), "chart", hostileOptions)
	if err != nil {
		t.Fatal(err)
	}
	if res.Renderer != render.Helm || len(res.Objects) != 1 || res.Objects[0].GetName() != "r" {
		t.Fatalf("rendered %s: %v", res.Renderer, res.Objects)
	}
	secretFile := filepath.Join(t.TempDir(), "controller-secret")
	if err := os.WriteFile(secretFile, []byte(hostSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chart["chart/values.schema.json"] = `{"$ref": "file://` + secretFile + `"}`
	_, err = pool.Render(t.Context(), mapFS(chart), "chart", hostileOptions)
	if err == nil || strings.Contains(err.Error(), hostSecret[:8]) {
		t.Fatalf("a schema naming a host file: %v", err)
	}
}

// A lockstep-render of another release refuses to start, saying so: it
// would drop options it does not know without a word.
func TestARenderBinaryOfAnotherReleaseRefusesToStart(t *testing.T) {
	bin := buildRenderBinary(t, "-X github.com/lockstep-dev/lockstep/internal/version.Version=v0.0.1-other")
	pool := newPool(t, sandbox.Options{Executable: bin})
	err := pool.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "install the lockstep-render of the same release") {
		t.Fatalf("Check: %v", err)
	}
	if strings.Contains(err.Error(), "unconfined") {
		t.Fatalf("Check: %v; running unconfined would not mend the wrong release", err)
	}
}

// A render binary that is not there is named with its flag; one named by a
// relative path is that file, wherever the process starts.
func TestTheRenderBinaryNamedIsTheOneStarted(t *testing.T) {
	_, err := sandbox.New(sandbox.Options{Executable: filepath.Join(t.TempDir(), "nowhere")})
	if err == nil || !strings.Contains(err.Error(), "--render-binary") {
		t.Fatalf("New: %v", err)
	}
	bin := buildRenderBinary(t, "-X github.com/lockstep-dev/lockstep/internal/version.Version="+version.Version)
	t.Chdir(filepath.Dir(bin))
	pool := newPool(t, sandbox.Options{Executable: sandbox.RenderBinary})
	if err := pool.Check(t.Context()); err != nil {
		t.Fatalf("a relative --render-binary: %v", err)
	}
}
