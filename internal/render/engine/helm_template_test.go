package engine_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// helmTemplate runs the real Helm CLI, pinned in go.mod as a tool at the same
// version as the SDK the renderer uses, so the reference is `helm template` itself.
func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"tool", "helm", "template"}, args...)...)
	// Helm keeps its caches and repository config under HOME; nothing is fetched.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func TestHelmRendersLikeHelmTemplate(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	chartDir := filepath.Join(filepath.Dir(here), "..", "..", "..", "examples", "webapp", "chart")
	valuesFile := filepath.Join(t.TempDir(), "extra.yaml")
	if err := os.WriteFile(valuesFile, []byte("greeting: Hi from a values file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := helmTemplate(t, "web", chartDir, "--namespace", "team-a", "--kube-version", "v1.34.3",
		"--values", valuesFile, "--set", "replicaCount=5")

	opts := helmOpts()
	opts.Helm.Values = []map[string]any{{"greeting": "Hi from a values file"}, {"replicaCount": 5}}
	got := renderOK(t, webapp(t), "chart", opts)
	if len(want) == 0 {
		t.Fatal("helm template printed no objects")
	}
	if diff := cmp.Diff(byIdentity(t, want), byIdentity(t, got.Objects)); diff != "" {
		t.Errorf("render differs from helm template (-helm +lockstep):\n%s", diff)
	}
}
