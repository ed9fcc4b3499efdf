package policy_test

import (
	"strings"
	"time"

	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

func TestServiceAccountChoice(t *testing.T) {
	app := func(sa string) *v1.Application {
		return &v1.Application{Spec: v1.ApplicationSpec{Destination: v1.Destination{Namespace: "team-a", ServiceAccountName: sa}}}
	}
	open := compile(t, v1.ProjectSpec{})
	pinned := compile(t, v1.ProjectSpec{ServiceAccountName: "deployer"})
	for _, tc := range []struct {
		name     string
		rules    *policy.Rules
		app      *v1.Application
		fallback string
		want     string
	}{
		{"the Application's own", open, app("mine"), "installed", "mine"},
		{"the Project's", pinned, app(""), "installed", "deployer"},
		{"the install's default", open, app(""), "installed", "installed"},
		{"the controller's identity", open, app(""), "", ""},
	} {
		if got := tc.rules.ServiceAccount(tc.app, tc.fallback); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestVerificationChoice(t *testing.T) {
	own := &v1.Verification{KeysFrom: []v1.KeySource{{Name: "keys"}}}
	app := &v1.Application{Spec: v1.ApplicationSpec{Source: v1.Source{Git: v1.GitSource{Verify: own}}}}
	app.Namespace = "team-a"

	// The Project's verification wins, with keys in the controller's namespace.
	project := &v1.Verification{Mode: v1.VerifyTag, KeysFrom: []v1.KeySource{{Name: "release-keys"}}}
	v, ns, fromProject, err := compile(t, v1.ProjectSpec{Verification: project}).Verification(app, "lockstep-system")
	if err != nil || v != project || ns != "lockstep-system" || !fromProject {
		t.Errorf("project: %v %q %v %v", v, ns, fromProject, err)
	}
	// Else the Application's own, with keys in its namespace.
	v, ns, fromProject, err = compile(t, v1.ProjectSpec{}).Verification(app, "lockstep-system")
	if err != nil || v != own || ns != "team-a" || fromProject {
		t.Errorf("own: %v %q %v %v", v, ns, fromProject, err)
	}
	// Which may not point at keys in another namespace.
	foreign := app.DeepCopy()
	foreign.Spec.Source.Git.Verify.KeysFrom[0].Namespace = "lockstep-system"
	if _, _, _, err := compile(t, v1.ProjectSpec{}).Verification(foreign, "lockstep-system"); err == nil || !strings.Contains(err.Error(), "its own namespace only") {
		t.Errorf("foreign keys: %v", err)
	}
	// Else none.
	if v, _, _, err := compile(t, v1.ProjectSpec{}).Verification(&v1.Application{}, "lockstep-system"); v != nil || err != nil {
		t.Errorf("none: %v %v", v, err)
	}
}

func TestApprovalsNeedTheirOwnKeys(t *testing.T) {
	if required, _, _, err := compile(t, v1.ProjectSpec{}).Approvals(); required || err != nil {
		t.Errorf("no rule: required %v, %v", required, err)
	}
	_, _, _, err := compile(t, v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 1}}).Approvals()
	if err == nil || !strings.Contains(err.Error(), "spec.approvals needs spec.approvals.keysFrom") {
		t.Errorf("approvals without keys: %v", err)
	}
	keys := []v1.KeySource{{Name: "approval-keys"}}
	required, got, trailer, err := compile(t, v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 1, KeysFrom: keys, Trailer: "Signed-off-by"}}).Approvals()
	if !required || err != nil || len(got) != 1 || trailer != "Signed-off-by" {
		t.Errorf("approvals: %v %v %q %v", required, got, trailer, err)
	}
	if _, _, trailer, _ := compile(t, v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 1, KeysFrom: keys}}).Approvals(); trailer != "Approved-by" {
		t.Errorf("default trailer %q", trailer)
	}
}

func TestOwnership(t *testing.T) {
	k := object.Key{Kind: "ConfigMap", Namespace: "prod", Name: "shared"}
	if err := policy.CheckOwnership([]policy.Claim{{Key: k, Owner: "team-b/app", Listed: false}}); err != nil {
		t.Errorf("an object its former owner let go is taken over: %v", err)
	}
	err := policy.CheckOwnership([]policy.Claim{{Key: k, Owner: "team-b/app", Listed: true}})
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/prod/shared is managed by Application team-b/app") {
		t.Errorf("an object another Application lists: %v", err)
	}
}

// A lone * in sourceRepos is any repository, as Argo CD users expect; elsewhere
// * stays within one path segment.
func TestLoneStarIsAnyRepository(t *testing.T) {
	anyRepo := compile(t, v1.ProjectSpec{SourceRepos: []string{"*"}})
	for _, url := range []string{"https://git.internal/team-a/app", "ssh://git@git.internal:2222/deep/nested/repo.git", "https://other.host/x"} {
		if !anyRepo.RepoAllowed(url) {
			t.Errorf("* refused %s", url)
		}
	}
	segment := compile(t, v1.ProjectSpec{SourceRepos: []string{"https://git.internal/*"}})
	if segment.RepoAllowed("https://git.internal/team-a/app") {
		t.Error("https://git.internal/* matched a nested repository")
	}
	// Dot segments are refused whatever the pattern.
	anyWhere := compile(t, v1.ProjectSpec{SourceNamespaces: []string{"*"}, SourceRepos: []string{"*"}, Destinations: []v1.ProjectDestination{{Namespace: "*"}}})
	app := &v1.Application{Spec: v1.ApplicationSpec{Source: v1.Source{Git: v1.GitSource{URL: "https://git.internal/team-a/../team-b"}}, Destination: v1.Destination{Namespace: "x"}}}
	if err := anyWhere.CheckApplication(app); err == nil {
		t.Error("* allowed a repository URL with a .. segment")
	}
}

// A Namespace object is a destination of its own: a team may create or change
// only the namespaces its Project names, and may not set their pod security
// unless the Project allows it.
func TestNamespaceObjectsAreDestinations(t *testing.T) {
	r := compile(t, v1.ProjectSpec{
		Destinations:     []v1.ProjectDestination{{Namespace: "team-a-*"}},
		ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Kind: "Namespace"}}},
	})
	ns := func(name, labels string) policy.Object {
		return rendered(t, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+name+", labels: {"+labels+"}}\n")
	}
	for _, tc := range []struct {
		obj  policy.Object
		want []string
	}{
		{ns("team-a-dev", ""), nil},
		{ns("team-b-prod", ""), []string{"Namespace/team-b-prod spec.destinations"}},
		{ns("team-a-dev", "pod-security.kubernetes.io/enforce: privileged"), []string{"Namespace/team-a-dev spec.podSecurityLabels"}},
	} {
		if diff := cmp.Diff(tc.want, violations(t, r.CheckObjects("in-cluster", []policy.Object{tc.obj}))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.obj.GetName(), diff)
		}
	}
	allowed := compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "team-a-*"}},
		ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Kind: "Namespace"}}}, PodSecurityLabels: true})
	if err := allowed.CheckObjects("in-cluster", []policy.Object{ns("team-a-dev", "pod-security.kubernetes.io/enforce: privileged")}); err != nil {
		t.Errorf("a Project that allows pod-security labels: %v", err)
	}
}

// An Application may delete only what it may apply now.
func TestPrunesAreCheckedAgainstTheProjectAsItIsNow(t *testing.T) {
	r := compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "team-a"}},
		NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}}}})
	keys := []object.Key{
		{Kind: "ConfigMap", Namespace: "team-a", Name: "ok"},
		{Kind: "ConfigMap", Namespace: "team-b", Name: "theirs"},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding", Namespace: "team-a", Name: "rb"},
		{Kind: "Namespace", Name: "team-b"},
	}
	want := []string{"ConfigMap/team-b/theirs spec.destinations", "RoleBinding/team-a/rb spec.namespacedResources", "Namespace/team-b spec.clusterResources", "Namespace/team-b spec.destinations"}
	err := r.CheckPrunes("in-cluster", keys)
	if diff := cmp.Diff(want, violations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err == nil || !strings.Contains(err.Error(), "pruning it: namespace team-b is not one of the project's destinations") {
		t.Errorf("message: %v", err)
	}
	if err := r.CheckPrunes("in-cluster", keys[:1]); err != nil {
		t.Errorf("an allowed prune: %v", err)
	}
}

func TestSyncTimeoutIsCapped(t *testing.T) {
	app := &v1.Application{Spec: v1.ApplicationSpec{Sync: v1.SyncPolicy{Timeout: &metav1.Duration{Duration: 8760 * time.Hour}}}}
	open := compile(t, v1.ProjectSpec{})
	capped := compile(t, v1.ProjectSpec{MaxSyncTimeout: &metav1.Duration{Duration: 10 * time.Minute}})
	for _, tc := range []struct {
		rules *policy.Rules
		max   time.Duration
		want  time.Duration
	}{
		{open, 0, 8760 * time.Hour},
		{open, 30 * time.Minute, 30 * time.Minute},
		{capped, 30 * time.Minute, 10 * time.Minute},
		{capped, 5 * time.Minute, 5 * time.Minute},
	} {
		if got := tc.rules.SyncTimeout(app, tc.max); got != tc.want {
			t.Errorf("controller max %s: %s, want %s", tc.max, got, tc.want)
		}
	}
	if got := open.SyncTimeout(&v1.Application{}, 0); got != v1.DefaultTimeout {
		t.Errorf("default: %s", got)
	}
}
