package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

func compile(t *testing.T, spec v1.ProjectSpec) *policy.Rules {
	t.Helper()
	r, err := policy.Compile(&v1.Project{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	r.Project = "team-a"
	return r
}

func rendered(t *testing.T, file, manifest string) policy.Object {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	return policy.Object{Unstructured: u, File: file}
}

// violations returns each violation as "object rule" for compact comparison.
func violations(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var denied *policy.DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("error %v is not a DeniedError", err)
	}
	var out []string
	for _, v := range denied.Violations {
		out = append(out, strings.TrimSpace(v.Object+" "+v.Rule))
	}
	return out
}

func TestSourceReposAndDestinations(t *testing.T) {
	r := compile(t, v1.ProjectSpec{
		SourceNamespaces: []string{"*"},
		SourceRepos:      []string{"https://git.internal/team-a/*", "ssh://git@git.internal:2222/shared/**"},
		Destinations:     []v1.ProjectDestination{{Namespace: "team-a-*"}, {Cluster: "in-cluster", Namespace: "shared"}},
	})
	for _, tc := range []struct {
		url, ns string
		want    []string
	}{
		{"https://git.internal/team-a/app", "team-a-prod", nil},
		{"https://GIT.internal/team-a/app.git/", "team-a-prod", nil},
		{"https://user:token@git.internal/team-a/app", "shared", nil},
		{"ssh://git@git.internal:2222/shared/deep/repo.git", "team-a-dev", nil},
		{"https://git.internal/team-a/nested/app", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-b/app", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal.evil/team-a/app", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-a/../team-b", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-a/%2e%2e/team-b", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-a/%252e%252e/team-b", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-a/app%zz", "team-a-dev", []string{"spec.sourceRepos"}},
		{"ssh://git@git.internal:2222/shared/./x", "team-a-dev", []string{"spec.sourceRepos"}},
		{"https://git.internal/team-a/app..v2", "team-a-dev", nil},
		{"https://git.internal/team-a/app", "team-b", []string{"spec.destinations"}},
		{"https://git.internal/team-b/app", "kube-system", []string{"spec.sourceRepos", "spec.destinations"}},
	} {
		app := &v1.Application{Spec: v1.ApplicationSpec{
			Source:      v1.Source{Git: v1.GitSource{URL: tc.url}},
			Destination: v1.Destination{Namespace: tc.ns},
		}}
		if diff := cmp.Diff(tc.want, violations(t, r.CheckApplication(app))); diff != "" {
			t.Errorf("%s → %s (-want +got):\n%s", tc.url, tc.ns, diff)
		}
	}
}

func TestAnEmptyProjectAllowsNothingAndTheBuiltInDefaultEverything(t *testing.T) {
	app := &v1.Application{Spec: v1.ApplicationSpec{
		Source: v1.Source{Git: v1.GitSource{URL: "https://git.internal/x"}}, Destination: v1.Destination{Namespace: "x"},
	}}
	app.Namespace = "team-a"
	want := []string{"spec.sourceNamespaces", "spec.sourceRepos", "spec.destinations"}
	if diff := cmp.Diff(want, violations(t, compile(t, v1.ProjectSpec{}).CheckApplication(app))); diff != "" {
		t.Errorf("empty project (-want +got):\n%s", diff)
	}
	if err := policy.Permissive().CheckApplication(app); err != nil {
		t.Errorf("built-in default: %v", err)
	}
	crb := rendered(t, "rbac.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}")
	if err := policy.Permissive().CheckObjects("in-cluster", []policy.Object{crb}); err != nil {
		t.Errorf("built-in default refused a cluster-scoped kind: %v", err)
	}
}

func TestKindsAndNamespacesOfObjects(t *testing.T) {
	r := compile(t, v1.ProjectSpec{
		Destinations:        []v1.ProjectDestination{{Namespace: "team-a"}},
		ClusterResources:    v1.ResourceRules{Allow: []v1.GroupKind{{Group: "", Kind: "Namespace"}}},
		NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}}},
	})
	objs := []policy.Object{
		rendered(t, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: team-a}"),
		rendered(t, "app/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}"),
		rendered(t, "app/crb.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: admin}"),
		rendered(t, "app/rb.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb, namespace: team-a}"),
		rendered(t, "app/other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: elsewhere, namespace: kube-system}"),
	}
	err := r.CheckObjects("in-cluster", objs)
	want := []string{
		"ClusterRoleBinding/admin spec.clusterResources",
		"RoleBinding/team-a/rb spec.namespacedResources",
		"ConfigMap/kube-system/elsewhere spec.destinations",
	}
	if diff := cmp.Diff(want, violations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The message names the object, the file and the rule.
	for _, s := range []string{"ClusterRoleBinding/admin (app/crb.yaml): cluster-scoped kind ClusterRoleBinding.rbac.authorization.k8s.io is not allowed [spec.clusterResources]", "denied by project team-a"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	// An allow list on namespaced kinds allows only those.
	r = compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "*"}},
		NamespacedResources: v1.ResourceRules{Allow: []v1.GroupKind{{Group: "apps", Kind: "Deployment"}}}})
	if diff := cmp.Diff([]string{"ConfigMap/team-a/ok spec.namespacedResources"}, violations(t, r.CheckObjects("in-cluster", objs[:1]))); diff != "" {
		t.Errorf("allow list (-want +got):\n%s", diff)
	}
}

const workloads = `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: team-a}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: setup, image: "registry.internal/tools/setup@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]
          containers: [{name: run, image: "docker.io/library/busybox:1.36"}]
`

func TestImagesOfEveryContainerKind(t *testing.T) {
	r := compile(t, v1.ProjectSpec{
		Destinations: []v1.ProjectDestination{{Namespace: "*"}},
		Images:       &v1.ImagePolicy{Registries: []string{"registry.internal", "registry.internal:5000/team-a"}, RequireDigest: true},
	})
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pod := `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a}
spec:
  initContainers: [{name: init, image: "registry.internal/init` + digest + `"}]
  containers: [{name: app, image: "registry.internal:5000/team-a/app` + digest + `"}, {name: side, image: "registry.internal:5000/team-b/side` + digest + `"}]
  ephemeralContainers: [{name: debug, image: "nicolaka/netshoot"}]
`
	var objs []policy.Object
	objs = append(objs, rendered(t, "pod.yaml", pod), rendered(t, "cron.yaml", workloads))
	for _, kind := range []string{"apps/v1 Deployment", "apps/v1 StatefulSet", "apps/v1 DaemonSet", "apps/v1 ReplicaSet", "batch/v1 Job", "v1 ReplicationController"} {
		apiVersion, k, _ := strings.Cut(kind, " ")
		objs = append(objs, rendered(t, "w.yaml", "apiVersion: "+apiVersion+"\nkind: "+k+"\nmetadata: {name: w, namespace: team-a}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: registry.internal/app:1.0}]\n"))
	}
	tpl := len(objs)
	objs = append(objs, rendered(t, "tpl.yaml", "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t, namespace: team-a}\ntemplate:\n  spec:\n    containers: [{name: app, image: quay.io/app"+digest+"}]\n    volumes: [{name: models, image: {reference: quay.io/models:1}}, {name: tmp, emptyDir: {}}]\n"))
	err := r.CheckObjects("in-cluster", objs)
	want := []string{
		"Pod/team-a/p spec.images.registries",
		"Pod/team-a/p spec.images.registries",
		"CronJob/team-a/nightly spec.images.registries",
		"Deployment/team-a/w spec.images.requireDigest",
		"StatefulSet/team-a/w spec.images.requireDigest",
		"DaemonSet/team-a/w spec.images.requireDigest",
		"ReplicaSet/team-a/w spec.images.requireDigest",
		"Job/team-a/w spec.images.requireDigest",
		"ReplicationController/team-a/w spec.images.requireDigest",
		"PodTemplate/team-a/t spec.images.registries",
		"PodTemplate/team-a/t spec.images.registries",
	}
	if diff := cmp.Diff(want, violations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, s := range []string{
		`Pod/team-a/p (pod.yaml): ephemeral container "debug": image nicolaka/netshoot is not from an allowed registry`,
		`container "side": image registry.internal:5000/team-b/side`,
		`CronJob/team-a/nightly (cron.yaml): container "run": image docker.io/library/busybox:1.36 is not from an allowed registry`,
		`Deployment/team-a/w (w.yaml): container "app": image registry.internal/app:1.0 is not pinned by digest`,
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q:\n%s", s, err)
		}
	}
	if err := r.CheckObjects("in-cluster", objs[tpl:]); err == nil || !strings.Contains(err.Error(), `PodTemplate/team-a/t (tpl.yaml): image volume "models": image quay.io/models:1 is not from an allowed registry`) {
		t.Errorf("image volume: %v", err)
	}
}

func TestHostileImageReferences(t *testing.T) {
	r := compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "*"}},
		Images: &v1.ImagePolicy{Registries: []string{"registry.internal"}}})
	for _, image := range []string{
		"", "registry.internal/../etc/passwd", "REGISTRY.internal/App", "registry.internal.evil.com/app",
		"registry.internal@evil/app", strings.Repeat("a", 300000), "registry.internal/app@sha256:short", "registry.internal/app:tag\nnext",
	} {
		o := rendered(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec: {containers: [{name: c}]}")
		_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{"name": "c", "image": image}}, "spec", "containers")
		if err := r.CheckObjects("in-cluster", []policy.Object{o}); err == nil {
			t.Errorf("image %.40q allowed", image)
		}
	}
	// A container without a name or with a non-string image is refused, not a panic.
	o := rendered(t, "x.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec: {containers: [{image: 42}, 7, null]}")
	if err := r.CheckObjects("in-cluster", []policy.Object{o}); err == nil {
		t.Error("malformed containers allowed")
	}
}

func TestPlainSecretsRefused(t *testing.T) {
	r := compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "*"}}, Secrets: &v1.SecretPolicy{RefusePlain: true}})
	plain := rendered(t, "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {password: hunter2}")
	sealed := rendered(t, "secret.sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: ns}\nstringData: {password: hunter2}")
	sealed.Encrypted = true
	// What a secrets tool keeps in Git instead of a Secret passes: its
	// controller makes the Secret in the cluster.
	sealedSecret := rendered(t, "sealed.yaml", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: u, namespace: ns}\nspec: {encryptedData: {password: AgBy3i4OJSWK}}")
	external := rendered(t, "external.yaml", "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: v, namespace: ns}\nspec: {secretStoreRef: {name: vault, kind: ClusterSecretStore}, data: [{secretKey: password, remoteRef: {key: db}}]}")
	err := r.CheckObjects("in-cluster", []policy.Object{plain, sealed, sealedSecret, external})
	if diff := cmp.Diff([]string{"Secret/ns/s spec.secrets.refusePlain"}, violations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("message holds the Secret's value: %v", err)
	}
}

func TestApprovals(t *testing.T) {
	r := compile(t, v1.ProjectSpec{Approvals: &v1.ApprovalPolicy{Required: 2}})
	for _, tc := range []struct {
		name      string
		approvers []string
		trusted   bool
		want      []string // approvers counted; nil when denied
	}{
		{"two approvers", []string{"Bob <bob@x.io>", "Carol <carol@x.io>"}, true, []string{"Bob <bob@x.io>", "Carol <carol@x.io>"}},
		{"the author excluded", []string{"Alice <ALICE@x.io>", "Bob <bob@x.io>"}, true, nil},
		{"a duplicate counted once", []string{"Bob <bob@x.io>", "Robert <BOB@x.io>", "bob@x.io"}, true, nil},
		{"unsigned trailers ignored", []string{"Bob <bob@x.io>", "Carol <carol@x.io>"}, false, nil},
		{"names without email do not count", []string{"Bob", "Carol"}, true, nil},
		{"the author by name only", []string{"Alice", "Bob <bob@x.io>"}, true, nil},
		{"bare emails", []string{"bob@x.io", "carol@x.io"}, true, []string{"bob@x.io", "carol@x.io"}},
		{"empty and garbage values", []string{"", "<>", "Carol <carol@x.io>"}, true, nil},
	} {
		got, err := r.CheckApprovals(policy.Approval{Author: "Alice <alice@x.io>", Approvers: tc.approvers, TrustedSignature: tc.trusted})
		if tc.want == nil && err == nil {
			t.Errorf("%s: approved with %v", tc.name, got)
		}
		if tc.want != nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	}
	_, err := r.CheckApprovals(policy.Approval{Author: "Alice <alice@x.io>", Approvers: []string{"Alice <alice@x.io>", "Bob <bob@x.io>"}, TrustedSignature: true})
	if err == nil || !strings.Contains(err.Error(), "has 1 (Bob <bob@x.io>); the author's own approval does not count [spec.approvals]") {
		t.Errorf("message: %v", err)
	}
	_, err = r.CheckApprovals(policy.Approval{Author: "Alice <alice@x.io>", Approvers: []string{"Bob", "Carol <carol@x.io>"}, TrustedSignature: true})
	if err == nil || !strings.Contains(err.Error(), "approvals without an email address (Name <email>) do not count") {
		t.Errorf("message: %v", err)
	}
	if got, err := compile(t, v1.ProjectSpec{}).CheckApprovals(policy.Approval{}); got != nil || err != nil {
		t.Errorf("no approval rule: %v %v", got, err)
	}

	// A commit Lockstep wrote for dave (a rollback): dave's own approval
	// does not count, by account name, email or email's local part.
	for _, requester := range []string{"dave", "Dave@X.io", "Dave"} {
		got, err := r.CheckApprovals(policy.Approval{Author: "Lockstep <lockstep@localhost>", Requesters: []string{requester},
			Approvers: []string{"Dave <dave@x.io>", "Bob <bob@x.io>"}, TrustedSignature: true})
		if err == nil || !strings.Contains(err.Error(), "has 1 (Bob <bob@x.io>)") {
			t.Errorf("the requester %q approves their own rollback: %v, %v", requester, got, err)
		}
	}
}

func TestBadPatternsAreErrors(t *testing.T) {
	for _, spec := range []v1.ProjectSpec{
		{SourceRepos: []string{"https://git.internal/[unclosed"}},
		{Destinations: []v1.ProjectDestination{{Namespace: "team-[a"}}},
		{Images: &v1.ImagePolicy{Registries: []string{"https://registry.internal"}}},
		{Images: &v1.ImagePolicy{Registries: []string{""}}},
	} {
		if _, err := policy.Compile(&v1.Project{Spec: spec}); err == nil {
			t.Errorf("%+v compiled", spec)
		}
	}
}

func TestManyViolationsAreCountedNotAllListed(t *testing.T) {
	r := compile(t, v1.ProjectSpec{Destinations: []v1.ProjectDestination{{Namespace: "a"}}})
	var objs []policy.Object
	for i := range 25 {
		objs = append(objs, rendered(t, "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c"+strings.Repeat("x", i)+", namespace: b}"))
	}
	err := r.CheckObjects("in-cluster", objs)
	if len(violations(t, err)) != 25 || !strings.Contains(err.Error(), "and 15 more") {
		t.Errorf("got %v", err)
	}
}

func TestAProjectServiceAccountAllowsNoOther(t *testing.T) {
	app := func(sa string) *v1.Application {
		return &v1.Application{Spec: v1.ApplicationSpec{
			Source:      v1.Source{Git: v1.GitSource{URL: "https://git.internal/team-a/app"}},
			Destination: v1.Destination{Namespace: "team-a", ServiceAccountName: sa},
		}}
	}
	open := compile(t, v1.ProjectSpec{SourceNamespaces: []string{"*"}, SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: "*"}}})
	pinned := compile(t, v1.ProjectSpec{SourceNamespaces: []string{"*"}, SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: "*"}}, ServiceAccountName: "deployer"})
	for _, tc := range []struct {
		rules *policy.Rules
		sa    string
		want  []string
	}{
		{open, "", nil},
		{open, "anything", nil},
		{pinned, "", nil},
		{pinned, "deployer", nil},
		{pinned, "admin", []string{"spec.serviceAccountName"}},
	} {
		err := tc.rules.CheckApplication(app(tc.sa))
		if diff := cmp.Diff(tc.want, violations(t, err)); diff != "" {
			t.Errorf("project SA %q, app SA %q (-want +got):\n%s", tc.rules.ServiceAccount(&v1.Application{}, ""), tc.sa, diff)
		}
		if tc.want != nil && !strings.Contains(err.Error(), "service account admin: the project applies as deployer") {
			t.Errorf("message: %v", err)
		}
	}
}

func TestOnlyTheSourceNamespacesMayUseAProject(t *testing.T) {
	r := compile(t, v1.ProjectSpec{SourceNamespaces: []string{"team-a", "team-a-*"}, SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: "*"}}})
	for ns, want := range map[string][]string{
		"team-a":      nil,
		"team-a-prod": nil,
		"team-b":      {"spec.sourceNamespaces"},
		"team-ab":     {"spec.sourceNamespaces"},
		"":            {"spec.sourceNamespaces"},
	} {
		app := &v1.Application{Spec: v1.ApplicationSpec{Source: v1.Source{Git: v1.GitSource{URL: "https://git.internal/a"}}, Destination: v1.Destination{Namespace: "x"}}}
		app.Namespace = ns
		err := r.CheckApplication(app)
		if diff := cmp.Diff(want, violations(t, err)); diff != "" {
			t.Errorf("namespace %q (-want +got):\n%s", ns, diff)
		}
		if want != nil && !strings.Contains(err.Error(), "Applications in namespace "+ns+" may not use this project") {
			t.Errorf("message: %v", err)
		}
	}
	if _, err := policy.Compile(&v1.Project{Spec: v1.ProjectSpec{SourceNamespaces: []string{"team-[a"}}}); err == nil || !strings.Contains(err.Error(), "spec.sourceNamespaces[0]") {
		t.Errorf("bad pattern: err = %v", err)
	}
}
