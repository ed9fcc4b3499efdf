package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// project creates a cluster-scoped Project named after the test's namespace
// (Projects are shared by every test of the binary) and deletes it afterwards.
func (f *repoFixture) project(t *testing.T, spec v1.ProjectSpec) *v1.Project {
	t.Helper()
	if spec.SourceNamespaces == nil {
		spec.SourceNamespaces = []string{f.ns}
	}
	p := &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: f.ns}, Spec: spec}
	if err := f.c.Create(testenv.Context(t), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.c.Delete(context.Background(), p) })
	return p
}

// updateProject changes the test's Project.
func (f *repoFixture) updateProject(t *testing.T, mutate func(*v1.ProjectSpec)) {
	t.Helper()
	p := &v1.Project{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Name: f.ns}, p); err != nil {
		t.Fatal(err)
	}
	mutate(&p.Spec)
	if err := f.c.Update(testenv.Context(t), p); err != nil {
		t.Fatal(err)
	}
}

// inProject puts the Application in the test's Project.
func (f *repoFixture) inProject(app *v1.Application) { app.Spec.Project = f.ns }

// readyMessage is the Ready condition's message.
func readyMessage(app *v1.Application) string {
	if c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

func (f *repoFixture) configMapExists(t *testing.T, namespace, name string) bool {
	t.Helper()
	err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: namespace, Name: name}, &corev1.ConfigMap{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

const pinned = "registry.internal/web@sha256:4b4e1c2a3f0d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0"

// A Project's rules stop a sync before anything is applied, with a message
// naming each object, its file and the rule; fixing Git lets it through;
// tightening the Project stops the next sync without a new commit.
func TestProjectRulesStopTheSyncBeforeAnythingIsApplied(t *testing.T) {
	f := newRepo(t)
	f.project(t, v1.ProjectSpec{
		SourceRepos:         []string{sharedGit.HTTPSURL("*")},
		Destinations:        []v1.ProjectDestination{{Namespace: f.ns}},
		NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}}},
		Images:              &v1.ImagePolicy{Registries: []string{"registry.internal"}},
		Secrets:             &v1.SecretPolicy{RefusePlain: true},
	})
	bad := f.commit(t, "everything wrong", map[string]string{
		"app/settings.yaml":  configMapYAML,
		"app/elsewhere.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sneaky, namespace: kube-system}\ndata: {a: b}\n",
		"app/crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: " + f.ns + "-admin}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: default, namespace: " + f.ns + "}]\n",
		"app/rb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: admin}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\nsubjects: [{kind: ServiceAccount, name: default}]\n",
		"app/deploy.yaml": deploymentYAML("docker.io/library/nginx:1.27", "info"),
		"app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: correct-horse-battery}\n",
	})
	f.create(t, f.application("guarded", "app", f.inProject))
	app := f.waitFor(t, "guarded", metav1.ConditionFalse, v1.ReasonPolicyDenied, bad)
	msg := readyMessage(app)
	for _, want := range []string{
		"denied by project " + f.ns,
		"ConfigMap/kube-system/sneaky (app/elsewhere.yaml): namespace kube-system is not one of the project's destinations [spec.destinations]",
		"ClusterRoleBinding/" + f.ns + "-admin (app/crb.yaml): cluster-scoped kind ClusterRoleBinding.rbac.authorization.k8s.io is not allowed [spec.clusterResources]",
		"RoleBinding/" + f.ns + "/admin (app/rb.yaml): kind RoleBinding.rbac.authorization.k8s.io is not allowed [spec.namespacedResources]",
		`Deployment/` + f.ns + `/web (app/deploy.yaml): container "web": image docker.io/library/nginx:1.27 is not from an allowed registry (registry.internal) [spec.images.registries]`,
		"Secret/" + f.ns + "/creds (app/secret.yaml): the Secret is not SOPS-encrypted in Git [spec.secrets.refusePlain]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "correct-horse-battery") {
		t.Error("the denial holds the Secret's value")
	}
	if f.configMapExists(t, f.ns, "settings") || f.configMapExists(t, "kube-system", "sneaky") {
		t.Error("objects were applied although the sync was denied")
	}
	c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionStalled)
	if c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True: a denial needs a change to Git or the Project", c)
	}
	recs := f.waitRecords(t, "guarded", 1, audit.EventDenied)
	if recs[0].Reason != v1.ReasonPolicyDenied || recs[0].Project != f.ns || recs[0].Revision != bad || len(recs[0].Changes) != 0 {
		t.Errorf("denial record = %+v", recs[0])
	}

	good := f.commit(t, "only what the project allows", map[string]string{
		"app/elsewhere.yaml": "", "app/crb.yaml": "", "app/rb.yaml": "", "app/secret.yaml": "",
		"app/deploy.yaml": deploymentYAML(pinned, "info"),
	})
	f.refresh(t, "guarded")
	f.waitFor(t, "guarded", metav1.ConditionTrue, v1.ReasonSucceeded, good)
	if !f.configMapExists(t, f.ns, "settings") {
		t.Error("the allowed ConfigMap was not applied")
	}
	if recs := f.records(t, "guarded", audit.EventSync); len(recs) == 0 || recs[len(recs)-1].Project != f.ns {
		t.Errorf("sync records %s do not name the project", describe(recs))
	}

	// Tightening the Project re-checks its Applications at once.
	f.updateProject(t, func(p *v1.ProjectSpec) {
		p.Images.Registries = []string{"registry.internal/other-team"}
	})
	app = f.waitFor(t, "guarded", metav1.ConditionFalse, v1.ReasonPolicyDenied, good)
	if !strings.Contains(readyMessage(app), "registry.internal/web@sha256:") {
		t.Errorf("message %q does not name the image", readyMessage(app))
	}
	if !f.configMapExists(t, f.ns, "settings") {
		t.Error("a denial pruned what the last allowed sync applied")
	}
}

// The repository and destination are checked before anything is fetched; a
// missing Project denies until it is created.
func TestRepositoryDestinationAndMissingProject(t *testing.T) {
	f := newRepo(t)
	head := f.commit(t, "settings", map[string]string{"app/settings.yaml": configMapYAML})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"https://git.internal/other/**"},
		Destinations: []v1.ProjectDestination{{Namespace: "team-*"}},
	})
	f.create(t, f.application("elsewhere", "app", f.inProject))
	app := f.waitFor(t, "elsewhere", metav1.ConditionFalse, v1.ReasonPolicyDenied, "")
	msg := readyMessage(app)
	for _, want := range []string{
		"repository " + sharedGit.HTTPSURL(f.repo.Name) + " is not one of the project's source repositories [spec.sourceRepos]",
		"destination in-cluster/" + f.ns + " is not one of the project's destinations [spec.destinations]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if app.Status.LastAttemptedRevision != nil {
		t.Errorf("a denied repository was fetched: %+v", app.Status.LastAttemptedRevision)
	}

	f.create(t, f.application("orphan", "app", func(a *v1.Application) { a.Spec.Project = f.ns + "-missing" }))
	app = f.waitFor(t, "orphan", metav1.ConditionFalse, v1.ReasonPolicyDenied, "")
	if !strings.Contains(readyMessage(app), "project "+f.ns+"-missing does not exist") {
		t.Errorf("message = %q", readyMessage(app))
	}
	// Creating the Project for other namespaces only: a team cannot join a
	// Project by naming it.
	missing := &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-missing"}, Spec: v1.ProjectSpec{
		SourceNamespaces: []string{"team-*"},
		SourceRepos:      []string{sharedGit.HTTPSURL(f.repo.Name)}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
	}}
	if err := f.c.Create(testenv.Context(t), missing); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.c.Delete(context.Background(), missing) })
	eventually(t, 30*time.Second, "the orphan denied for its namespace", func(ctx context.Context) (bool, error) {
		app := &v1.Application{}
		if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "orphan"}, app); err != nil {
			return false, err
		}
		msg := readyMessage(app)
		return strings.Contains(msg, "Applications in namespace "+f.ns+" may not use this project [spec.sourceNamespaces]"), errors.New(msg)
	})
	// Letting the namespace in lets it sync, without waiting for the interval.
	missing.Spec.SourceNamespaces = append(missing.Spec.SourceNamespaces, f.ns)
	if err := f.c.Update(testenv.Context(t), missing); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "orphan", metav1.ConditionTrue, v1.ReasonSucceeded, head)
}

// Helm output is checked like any other: an image from another registry or not
// pinned by digest is refused, and the message names the chart's template.
func TestImagePolicyAppliesToHelmOutput(t *testing.T) {
	f := newRepo(t)
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Images:       &v1.ImagePolicy{Registries: []string{"registry.internal"}, RequireDigest: true},
	})
	head := f.commit(t, "a chart", map[string]string{
		"chart/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/values.yaml": "image: registry.internal/web:1.0\ninitImage: quay.io/tools/init@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		"chart/templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: {{ .Values.initImage | quote }}}]
      containers: [{name: web, image: {{ .Values.image | quote }}}]
`,
	})
	f.create(t, f.application("charted", "chart", f.inProject))
	app := f.waitFor(t, "charted", metav1.ConditionFalse, v1.ReasonPolicyDenied, head)
	msg := readyMessage(app)
	for _, want := range []string{
		`Deployment/` + f.ns + `/charted (chart/templates/deploy.yaml): init container "init": image quay.io/tools/init@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef is not from an allowed registry (registry.internal) [spec.images.registries]`,
		`Deployment/` + f.ns + `/charted (chart/templates/deploy.yaml): container "web": image registry.internal/web:1.0 is not pinned by digest (name@sha256:...) [spec.images.requireDigest]`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// Pinned images from the registry pass.
	fixed := f.commit(t, "pinned", map[string]string{"chart/values.yaml": "image: " + pinned + "\ninitImage: " + pinned + "\n"})
	f.refresh(t, "charted")
	f.waitFor(t, "charted", metav1.ConditionTrue, v1.ReasonSucceeded, fixed)
}

// A Namespace object in Git is checked like a destination: a team cannot create
// or take over a namespace its Project does not name, nor loosen its own
// namespace's pod security.
func TestNamespaceObjectsAreCheckedAsDestinations(t *testing.T) {
	f := newRepo(t)
	other := f.ns + "-other"
	f.project(t, v1.ProjectSpec{
		SourceRepos:      []string{"**"},
		Destinations:     []v1.ProjectDestination{{Namespace: f.ns}},
		ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{{Kind: "Namespace"}}},
	})
	head := f.commit(t, "namespaces", map[string]string{
		"app/mine.yaml":  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + f.ns + "\n  labels: {pod-security.kubernetes.io/enforce: privileged}\n",
		"app/other.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + other + "}\n",
	})
	f.create(t, f.application("web", "app", f.inProject))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonPolicyDenied, head)
	msg := readyMessage(app)
	for _, want := range []string{
		"Namespace/" + other + " (app/other.yaml): namespace " + other + " is not one of the project's destinations [spec.destinations]",
		"Namespace/" + f.ns + " (app/mine.yaml): label pod-security.kubernetes.io/enforce sets the namespace's pod security, which the project does not allow [spec.podSecurityLabels]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message lacks %q:\n%s", want, msg)
		}
	}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Name: other}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("the other namespace was created (err %v)", err)
	}
}

// With --require-projects a missing Project fails closed, "default" included.
func TestRequiredProjectsFailClosed(t *testing.T) {
	f := newRepo(t)
	f.commit(t, "cm", map[string]string{"app/cm.yaml": configMapYAML})
	app := f.application("web", "app", func(a *v1.Application) { a.Spec.Suspend = true })
	f.create(t, app)
	app = f.get(t, "web")
	clients, err := kube.NewClients(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, require := range []bool{false, true} {
		pipeline, _, err := controller.NewPipeline(clients, f.c, controller.PipelineConfig{Render: sandboxedRender(t), RepositoryDir: t.TempDir(), Namespace: shared.opts.Namespace, RequireProjects: require})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pipeline.Preview(testenv.Context(t), app, reconcile.PreviewOptions{Fresh: true})
		denied := err != nil && strings.Contains(err.Error(), "project default does not exist, and this controller requires Projects (--require-projects)")
		if denied != require {
			t.Errorf("require %v: preview error %v", require, err)
		}
	}
}

// A prune is checked against the Project as it is now: after a namespace was
// taken from a team, its Application cannot delete what it left there.
func TestPrunesAreCheckedAgainstTheCurrentProject(t *testing.T) {
	f := newRepo(t)
	other := testenv.Namespace(t)
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}, {Namespace: other}}})
	first := f.commit(t, "two namespaces", map[string]string{
		"app/cm.yaml":    configMapYAML,
		"app/other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: left, namespace: " + other + "}\n",
	})
	f.create(t, f.application("web", "app", f.inProject))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	if !f.configMapExists(t, other, "left") {
		t.Fatal("the ConfigMap in the other namespace was not applied")
	}

	// The namespace goes to another team; Git drops the object.
	f.updateProject(t, func(p *v1.ProjectSpec) { p.Destinations = []v1.ProjectDestination{{Namespace: f.ns}} })
	second := f.commit(t, "drop it", map[string]string{"app/other.yaml": ""})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonPolicyDenied, second)
	want := "ConfigMap/" + other + "/left: pruning it: namespace " + other + " is not one of the project's destinations [spec.destinations]"
	if !strings.Contains(readyMessage(app), want) {
		t.Errorf("Ready message %q lacks %q", readyMessage(app), want)
	}
	if !f.configMapExists(t, other, "left") {
		t.Error("the ConfigMap in the namespace the team lost was pruned")
	}
}
