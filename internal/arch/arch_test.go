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
	// render, the stage's types, all the way down; its renderers (engine) on
	// their own imports: the Helm SDK they use for charts links client-go for
	// features they never call (a client-only dry run, no cluster
	// configuration), so their transitive closure includes clients.
	check(t, "render", goList(t, "-deps", prefix+"render"))
	check(t, "render/engine", goList(t, "-f", `{{join .Imports "\n"}}`, prefix+"render/engine"))
}

const module = "github.com/lockstep-dev/lockstep/"

// lockstepDeps are the Lockstep packages pkg depends on, directly or not,
// without the module prefix.
func lockstepDeps(t *testing.T, pkg string) []string {
	t.Helper()
	var out []string
	for _, dep := range goList(t, "-deps", module+pkg) {
		if rest, ok := strings.CutPrefix(dep, module); ok && rest != pkg {
			out = append(out, rest)
		}
	}
	return out
}

// The stages import only the stages before them in the pipeline, so the path
// source → render → policy → plan → apply → audit reads one way. health holds
// pure rules that apply's waits between waves use as well as the pass's health
// stage: it comes before apply. object is the vocabulary they share, kube the
// clients apply talks through, api the CRD types, signkey the encoding of the
// keys the ledger (and the image and bundle) sign with.
func TestNoStageImportsALaterOne(t *testing.T) {
	order := []string{"internal/source", "internal/render", "internal/policy", "internal/plan", "internal/health", "internal/apply", "internal/audit"}
	shared := map[string]bool{"internal/object": true, "api/v1alpha1": true, "internal/version": true, "internal/signkey": true}
	for i, stage := range order {
		allowed := map[string]bool{}
		for _, earlier := range order[:i] {
			allowed[earlier] = true
		}
		if stage == "internal/apply" {
			allowed["internal/kube"] = true
		}
		for _, dep := range lockstepDeps(t, stage) {
			top := dep
			for _, s := range order {
				if strings.HasPrefix(dep, s+"/") {
					top = s // a stage's subpackage (source/verify) is the stage
				}
			}
			if top != stage && !allowed[top] && !shared[top] {
				t.Errorf("%s depends on %s, which is not a stage before it", stage, dep)
			}
		}
	}
}

// Edges that once crept in, each named so a regression says what it is.
func TestForbiddenEdges(t *testing.T) {
	for _, tc := range []struct{ from, to, why string }{
		{"internal/reconcile", "internal/server", "the controller loop does not serve HTTP; the composition root (controller) wires the server"},
		{"internal/source", "internal/audit", "fetching does not know the ledger"},
		{"internal/source/verify", "internal/audit", "verification does not know the ledger"},
		{"internal/kube", "internal/plan", "the clients and watch cache do not know the plan"},
		{"internal/pass", "internal/reconcile", "a pass is a value the loop produces, not part of it"},
	} {
		for _, dep := range lockstepDeps(t, tc.from) {
			if dep == tc.to || strings.HasPrefix(dep, tc.to+"/") {
				t.Errorf("%s depends on %s: %s", tc.from, tc.to, tc.why)
			}
		}
	}
	// object is the leaf every stage shares: it imports nothing of Lockstep.
	if deps := lockstepDeps(t, "internal/object"); len(deps) > 0 {
		t.Errorf("internal/object depends on %v; it must stay a leaf", deps)
	}
	// kube builds clients and knows only the shared vocabulary.
	for _, dep := range lockstepDeps(t, "internal/kube") {
		if dep != "internal/object" && dep != "api/v1alpha1" {
			t.Errorf("internal/kube depends on %s", dep)
		}
	}
}

// The pass renderers and the shared vocabulary reach no server.
func TestReportingAndVocabularyImportNoClient(t *testing.T) {
	check(t, "object", goList(t, "-deps", module+"internal/object"))
	// pass uses apply's value types (ChangeSet, Observation), so only its own
	// imports are checked: it calls nothing that reaches a server.
	var own []string
	for _, dep := range goList(t, "-f", `{{join .Imports "\n"}}`, module+"internal/pass") {
		if dep != module+"internal/apply" && dep != module+"internal/source" && dep != module+"internal/source/verify" {
			own = append(own, dep)
		}
	}
	check(t, "pass", own)
}

// The binaries read SOPS files with their own age-only reader (render/sops);
// the SOPS library, with the cloud SDKs its key service brings, is for tests
// only. Neither binary links a renderer it does not run: the controller's none.
func TestTheBinariesLinkOnlyWhatTheyRun(t *testing.T) {
	for _, cmd := range []string{"cmd/lockstep", "cmd/lockstep-render"} {
		for _, dep := range goList(t, "-deps", module+cmd) {
			if strings.HasPrefix(dep, "github.com/getsops/sops") {
				t.Errorf("%s depends on %s", cmd, dep)
			}
			if cmd == "cmd/lockstep" && (dep == module+"internal/render/engine" || dep == module+"internal/render/renderer") {
				t.Errorf("cmd/lockstep depends on %s: renders run in lockstep-render", dep)
			}
		}
	}
}
