package arch_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The pure stages of the pipeline take inputs and return values; only kube,
// apply and reconcile talk to the API server. A stage that imports a client has
// started to reach past its neighbours.
func TestPureStagesDoNotImportClients(t *testing.T) {
	pure := []string{"render", "plan"}
	forbidden := []string{
		"k8s.io/client-go/kubernetes", "k8s.io/client-go/rest", "k8s.io/client-go/dynamic",
		"sigs.k8s.io/controller-runtime", "github.com/go-git/go-git/v5/plumbing/transport",
	}
	for _, stage := range pure {
		pkg := "github.com/lockstep-dev/lockstep/internal/" + stage
		out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s; pure stages must not reach the network or the API server", stage, dep)
				}
			}
		}
	}
}
