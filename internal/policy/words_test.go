package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// An empty Project is closed: the sentences say so, rule by rule, with the
// defaults of the rules that have one.
func TestDescribeAnEmptyProject(t *testing.T) {
	want := []string{
		"No Application may use it: spec.sourceNamespaces names no namespace whose Applications may.",
		"It allows no repository (spec.sourceRepos is empty), so none of its Applications can sync.",
		"It allows no destination (spec.destinations is empty), so none of its Applications can sync.",
		"No cluster-scoped kind may be applied or pruned (spec.clusterResources allows none).",
		"Every namespaced kind may be applied and pruned.",
		"Its Namespace objects may not set pod-security.kubernetes.io/ labels.",
		"Its Applications apply, prune and read as the service account they name, else as the controller's --default-service-account, else as the controller itself.",
		"It requires no signature; an Application may ask for its own (spec.source.git.verify).",
		"It requires no approvals.",
		"A revision that does not descend from the applied one (a rollback) is synced like any other and recorded as a rollback.",
		"Its workloads may run images from any registry, pinned by digest or not.",
		"Its Secrets may be plain in Git.",
		"It takes over objects that exist but no Application manages, recording the values they had.",
		"One sync (hooks and health waits included) may take what its Application's spec.sync.timeout asks (5m0s by default), up to the controller's --max-sync-timeout.",
	}
	if diff := cmp.Diff(want, policy.Describe(&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "empty"}})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The built-in default allows what Permissive allows; with --require-projects
// it does not apply at all.
func TestDescribeTheBuiltInDefault(t *testing.T) {
	open := policy.DescribeBuiltIn(false)
	for _, want := range []string{
		"No Project named default exists, so the built-in default applies to its Applications (and to those that name no Project): it allows everything and requires nothing.",
		"Applications of any namespace may use it.",
		"Its Applications may use any repository.",
		"Its Applications may deploy to any namespace of any cluster.",
		"Every cluster-scoped kind may be applied and pruned.",
		"Its Namespace objects may set pod-security.kubernetes.io/ labels, which decide what Pods may do there.",
	} {
		if !slices.Contains(open, want) {
			t.Errorf("built-in default lacks %q:\n%s", want, strings.Join(open, "\n"))
		}
	}
	closed := []string{"No Project named default exists, and this controller requires Projects (--require-projects): every sync of its Applications (and of those that name no Project) is denied until it is created."}
	if diff := cmp.Diff(closed, policy.DescribeBuiltIn(true)); diff != "" {
		t.Errorf("--require-projects (-want +got):\n%s", diff)
	}
}

// Each rule in words, as the checks apply it.
func TestDescribeEachRule(t *testing.T) {
	keys := []v1.KeySource{{Name: "release-keys"}, {Kind: "ConfigMap", Namespace: "git", Name: "merge-key"}}
	for _, tc := range []struct {
		name string
		spec v1.ProjectSpec
		want string
	}{
		{"one source namespace", v1.ProjectSpec{SourceNamespaces: []string{"payments"}},
			"Only Applications in namespace payments may use it."},
		{"source namespaces", v1.ProjectSpec{SourceNamespaces: []string{"team-a-*", "team-b"}},
			"Only Applications in namespaces team-a-*, team-b may use it."},
		{"any source namespace", v1.ProjectSpec{SourceNamespaces: []string{"team-a", "*"}},
			"Applications of any namespace may use it."},
		{"one repository", v1.ProjectSpec{SourceRepos: []string{"https://git.internal/payments.git"}},
			"Its Applications may use only the repository https://git.internal/payments.git."},
		{"repositories as globs", v1.ProjectSpec{SourceRepos: []string{"https://git.internal/team-a/*", "ssh://git@git.internal/shared/**"}},
			"Its Applications may use only the repositories https://git.internal/team-a/*, ssh://git@git.internal/shared/** (* matches within one path segment, ** across segments)."},
		{"a lone * is any repository", v1.ProjectSpec{SourceRepos: []string{"*"}},
			"Its Applications may use any repository."},
		{"destinations", v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "team-a-*"}, {Cluster: "prod", Namespace: "team-a"}}},
			"Its Applications may deploy only to in-cluster/team-a-*, prod/team-a (cluster/namespace): the Application's destination, the namespace of every object it applies or prunes, and the name of every Namespace object are checked."},
		{"every namespace of one cluster is not any destination", v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "*"}}},
			"Its Applications may deploy only to in-cluster/* (cluster/namespace): the Application's destination, the namespace of every object it applies or prunes, and the name of every Namespace object are checked."},
		{"any destination", v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "a"}, {Cluster: "*", Namespace: "*"}}},
			"Its Applications may deploy to any namespace of any cluster."},
		{"cluster-scoped kinds", v1.ProjectSpec{ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}}}},
			"Only these cluster-scoped kinds may be applied and pruned: Namespace, ClusterRole.rbac.authorization.k8s.io."},
		{"every cluster-scoped kind but some", v1.ProjectSpec{ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Group: "*", Kind: "*"}}, Deny: []v1.GroupKind{{Group: "*", Kind: "CustomResourceDefinition"}}}},
			"Every cluster-scoped kind may be applied and pruned except CustomResourceDefinition of any group."},
		{"denying without allowing allows nothing", v1.ProjectSpec{ClusterResources: v1.ResourceRules{Deny: []v1.GroupKind{{Kind: "Namespace"}}}},
			"No cluster-scoped kind may be applied or pruned (spec.clusterResources allows none)."},
		{"namespaced kinds denied", v1.ProjectSpec{NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}, {Kind: "*"}}}},
			"Every namespaced kind may be applied and pruned except every kind of rbac.authorization.k8s.io, every kind of the core group."},
		{"namespaced kinds allowed and denied", v1.ProjectSpec{NamespacedResources: v1.ResourceRules{Allow: []v1.GroupKind{{Group: "apps", Kind: "*"}, {Kind: "ConfigMap"}}, Deny: []v1.GroupKind{{Group: "apps", Kind: "DaemonSet"}}}},
			"Only these namespaced kinds may be applied and pruned: every kind of apps, ConfigMap (except DaemonSet.apps)."},
		{"pod security labels", v1.ProjectSpec{PodSecurityLabels: true},
			"Its Namespace objects may set pod-security.kubernetes.io/ labels, which decide what Pods may do there."},
		{"service account", v1.ProjectSpec{ServiceAccountName: "deployer"},
			"Its Applications apply, prune and read as the service account deployer of their own namespace, and may name no other."},
		{"signed commits", v1.ProjectSpec{Verification: &v1.Verification{KeysFrom: keys}},
			"Every commit synced must be signed by a key from Secret release-keys, ConfigMap git/merge-key (in the controller's namespace unless named); this replaces any verification an Application asks for."},
		{"signed tags", v1.ProjectSpec{Verification: &v1.Verification{Mode: v1.VerifyTag, KeysFrom: keys[1:]}},
			"Every annotated tag followed must be signed by a key from ConfigMap git/merge-key, so its Applications must follow a tag or a semver range; this replaces any verification an Application asks for."},
		{"signed tags and commits", v1.ProjectSpec{Verification: &v1.Verification{Mode: v1.VerifyTagAndHead, KeysFrom: keys[1:]}},
			"Every annotated tag followed, and its commit, must be signed by a key from ConfigMap git/merge-key, so its Applications must follow a tag or a semver range; this replaces any verification an Application asks for."},
		{"signatures without keys", v1.ProjectSpec{Verification: &v1.Verification{}},
			"It requires signatures but trusts no key (spec.verification.keysFrom is empty), so every sync fails verification."},
		{"an unknown verification mode checks nothing", v1.ProjectSpec{Verification: &v1.Verification{Mode: "Everything", KeysFrom: keys}},
			"It names the verification mode Everything, which no check knows, so nothing is verified."},
		{"approvals", v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 2, Trailer: "Reviewed-by", KeysFrom: keys[1:]}},
			"Every commit synced needs 2 distinct approvers other than its author, named with an email address in Reviewed-by: trailers of a commit signed by a key from ConfigMap git/merge-key."},
		{"one approval", v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 1, KeysFrom: keys[:1]}},
			"Every commit synced needs 1 distinct approver other than its author, named with an email address in Approved-by: trailers of a commit signed by a key from Secret release-keys (in the controller's namespace unless named)."},
		{"approvals without keys", v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 1}},
			"It requires approvals but names no key that signs approved commits (spec.approvals.keysFrom is empty), so every sync is denied."},
		{"rollbacks refused", v1.ProjectSpec{Rollbacks: v1.RollbacksRefuse},
			"A revision that does not descend from the applied one (a rollback) is refused: roll back with git revert, which keeps the history."},
		{"images", v1.ProjectSpec{Images: &v1.ImagePolicy{Registries: []string{"registry.internal/team-a", "registry.internal:5000"}}},
			"Every image its workloads run (containers, init and ephemeral containers, image volumes) must come from registry.internal/team-a, registry.internal:5000."},
		{"images pinned", v1.ProjectSpec{Images: &v1.ImagePolicy{Registries: []string{"registry.internal"}, RequireDigest: true}},
			"Every image its workloads run (containers, init and ephemeral containers, image volumes) must come from registry.internal and be pinned by digest (name@sha256:…)."},
		{"no registry", v1.ProjectSpec{Images: &v1.ImagePolicy{RequireDigest: true}},
			"Its workloads may run no image (spec.images.registries is empty)."},
		{"encrypted Secrets", v1.ProjectSpec{Secrets: &v1.SecretPolicy{RefusePlain: true}},
			"Its Secrets must be SOPS-encrypted in Git."},
		{"adoption refused", v1.ProjectSpec{Adoption: v1.AdoptionRefuse},
			"It refuses to take over objects that exist but no Application manages: the sync is denied, naming them."},
		{"sync timeout", v1.ProjectSpec{MaxSyncTimeout: &metav1.Duration{Duration: 10 * time.Minute}},
			"One sync (hooks and health waits included) may take at most 10m0s, or the controller's --max-sync-timeout if shorter, whatever its Application asks."},
		{"rules that do not compile", v1.ProjectSpec{SourceRepos: []string{"https://git.internal/[a"}},
			`Its rules do not compile, so every sync of its Applications is denied: project team-a: spec.sourceRepos[0] "https://git.internal/[a": unexpected end of input.`},
	} {
		got := policy.Describe(&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: tc.spec})
		if !slices.Contains(got, tc.want) {
			t.Errorf("%s: no sentence\n  %s\nin\n  %s", tc.name, tc.want, strings.Join(got, "\n  "))
		}
	}
}

// Values reach terminals and browsers: control and invisible characters are
// quoted, long values cut and long lists counted.
func TestDescribeHostileValues(t *testing.T) {
	many := make([]string, 256)
	for i := range many {
		many[i] = "team-" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name string
		spec v1.ProjectSpec
		want string
	}{
		{"an escape sequence", v1.ProjectSpec{SourceNamespaces: []string{"team\x1b[2J\x1b[31m"}},
			`Only Applications in namespace "team\x1b[2J\x1b[31m" may use it.`},
		{"a newline forging a sentence", v1.ProjectSpec{ServiceAccountName: "sa\nIts Secrets must be SOPS-encrypted in Git."},
			`Its Applications apply, prune and read as the service account "sa\nIts Secrets must be SOPS-encrypted in Git." of their own namespace, and may name no other.`},
		{"a bidirectional override", v1.ProjectSpec{Images: &v1.ImagePolicy{Registries: []string{"registry.internal/\u202eevil"}}},
			`Every image its workloads run (containers, init and ephemeral containers, image volumes) must come from "registry.internal/\u202eevil".`},
		{"invalid UTF-8", v1.ProjectSpec{SourceNamespaces: []string{"a\xffb"}},
			`Only Applications in namespace "a\xffb" may use it.`},
		{"an empty value", v1.ProjectSpec{SourceNamespaces: []string{""}},
			`Only Applications in namespace "" may use it.`},
		{"a long value", v1.ProjectSpec{SourceNamespaces: []string{strings.Repeat("é", 500)}},
			"Only Applications in namespace " + strings.Repeat("é", 120) + "… may use it."},
		{"a long list", v1.ProjectSpec{SourceNamespaces: many},
			"Only Applications in namespaces " + strings.Join(many[:20], ", ") + " and 236 more may use it."},
		{"a long list of kinds", v1.ProjectSpec{NamespacedResources: v1.ResourceRules{Deny: func() []v1.GroupKind {
			out := make([]v1.GroupKind, 30)
			for i := range out {
				out[i] = v1.GroupKind{Group: "g", Kind: "K"}
			}
			return out
		}()}}, "Every namespaced kind may be applied and pruned except " + strings.Repeat("K.g, ", 19) + "K.g and 10 more."},
	} {
		got := policy.Describe(&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: tc.spec})
		if !slices.Contains(got, tc.want) {
			t.Errorf("%s: no sentence\n  %s\nin\n  %s", tc.name, tc.want, strings.Join(got, "\n  "))
		}
	}
}

// Whatever a Project holds, every sentence is printable and bounded.
func FuzzDescribe(f *testing.F) {
	f.Add("team-a", "https://git.internal/**", "in-cluster", "team-*", "apps", "Deployment", "registry.internal", "sa", "Approved-by")
	f.Add("\x1b]0;title\x07", "\u202e", "\xff", "\r\n", "\u200b", "*", "\x00", "\t", "\u2028")
	f.Fuzz(func(t *testing.T, ns, repo, cluster, dest, group, kind, registry, sa, trailer string) {
		keys := []v1.KeySource{{Kind: kind, Namespace: ns, Name: sa}}
		p := &v1.Project{Spec: v1.ProjectSpec{
			SourceNamespaces: []string{ns}, SourceRepos: []string{repo},
			Destinations:        []v1.ProjectDestination{{Cluster: cluster, Namespace: dest}},
			ClusterResources:    v1.ResourceRules{Allow: []v1.GroupKind{{Group: group, Kind: kind}}},
			NamespacedResources: v1.ResourceRules{Allow: []v1.GroupKind{{Group: group, Kind: kind}}, Deny: []v1.GroupKind{{Group: group, Kind: kind}}},
			ServiceAccountName:  sa,
			Verification:        &v1.Verification{Mode: v1.VerificationMode(trailer), KeysFrom: keys},
			Approvals:           &v1.ApprovalPolicy{Required: 1, Trailer: trailer, KeysFrom: keys},
			Images:              &v1.ImagePolicy{Registries: []string{registry}},
		}}
		for _, s := range policy.Describe(p) {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
				t.Errorf("sentence holds an unprintable character: %q", s)
			}
			if n := utf8.RuneCountInString(s); n > 2000 {
				t.Errorf("sentence of %d characters", n)
			}
		}
	})
}
