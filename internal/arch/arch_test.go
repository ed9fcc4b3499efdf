package arch_test

import (
	"os/exec"
	"strings"
	"testing"
)

// clients are packages that reach the API server or a Git server.
var clients = []string{
	"k8s.io/client-go/kubernetes", "k8s.io/client-go/rest", "k8s.io/client-go/dynamic",
	"sigs.k8s.io/controller-runtime", "github.com/go-git/go-git/v5/plumbing/transport",
	"github.com/lockstep-dev/lockstep/internal/apply", "github.com/lockstep-dev/lockstep/internal/source",
	"github.com/lockstep-dev/lockstep/internal/reconcile", "github.com/lockstep-dev/lockstep/internal/kube",
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func check(t *testing.T, stage string, deps []string) {
	t.Helper()
	for _, dep := range deps {
		for _, c := range clients {
			if dep == c || strings.HasPrefix(dep, c+"/") {
				t.Errorf("%s depends on %s; pure stages take inputs and return values, only apply and reconcile reach servers", stage, dep)
			}
		}
	}
}

// The pure stages of the pipeline take inputs and return values; only apply and
// reconcile talk to servers. A stage that imports a client has started to reach
// past its neighbours.
func TestPureStagesDoNotImportClients(t *testing.T) {
	const prefix = "github.com/lockstep-dev/lockstep/internal/"
	// plan is pure all the way down.
	check(t, "plan", goList(t, "-deps", prefix+"plan"))
	// health too: live objects in, verdicts out.
	check(t, "health", goList(t, "-deps", prefix+"health"))
	// policy: rules and rendered objects in, violations out.
	check(t, "policy", goList(t, "-deps", prefix+"policy"))
	// audit: records, chain and blame are values; storage is behind its Store.
	check(t, "audit", goList(t, "-deps", prefix+"audit"))
	// render is checked on its own imports: the Helm SDK it uses for charts links
	// client-go for features render never calls (it renders with a client-only dry
	// run and no cluster configuration), so its transitive closure includes clients.
	check(t, "render", goList(t, "-f", `{{join .Imports "\n"}}`, prefix+"render"))
}
