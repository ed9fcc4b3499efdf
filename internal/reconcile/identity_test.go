package reconcile_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// deployer creates a service account allowed to manage ConfigMaps and
// Deployments in the test's namespace only, and to read the repository's
// credential Secrets.
func (f *repoFixture) deployer(t *testing.T, name string) {
	t.Helper()
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
			// The repository's credentials are read as the service account.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"git-auth", "git-ca"}, Verbs: []string{"get"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: f.ns}}},
	} {
		if err := f.c.Create(testenv.Context(t), o); err != nil {
			t.Fatal(err)
		}
	}
}

// An Application acts as its service account (its own, or its Project's):
// Kubernetes RBAC refuses a ClusterRoleBinding, another namespace and a kind
// the account may not touch, even though Git asks for them and the Project
// allows them, and the message says which permission is missing.
func TestTheServiceAccountDecidesWhatAnApplicationMayTouch(t *testing.T) {
	f := newRepo(t)
	other := testenv.Namespace(t)
	f.deployer(t, "deployer")
	user := `User "system:serviceaccount:` + f.ns + `:deployer"`
	head := f.commit(t, "too much", map[string]string{
		"app/settings.yaml": configMapYAML,
		"app/crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: " + f.ns + "-escalate}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: " + f.ns + "}]\n",
		"app/other.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: reach, namespace: " + other + "}\n",
		"own/settings.yaml": configMapYAML,
		"secret/s.yaml":     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: value-of-s}\n",
	})
	f.create(t, f.application("as-deployer", "app", func(a *v1.Application) { a.Spec.Destination.ServiceAccountName = "deployer" }))
	app := f.waitFor(t, "as-deployer", metav1.ConditionFalse, v1.ReasonPlanFailed, head)
	msg := readyMessage(app)
	for _, want := range []string{
		user + ` cannot get resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope`,
		user + ` cannot get resource "configmaps" in API group "" in the namespace "` + other + `"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if f.configMapExists(t, f.ns, "settings") || f.configMapExists(t, other, "reach") {
		t.Error("objects were applied although the service account may not apply all of them")
	}
	crb := &rbacv1.ClusterRoleBinding{}
	if err := f.c.Get(testenv.Context(t), client.ObjectKey{Name: f.ns + "-escalate"}, crb); err == nil {
		t.Error("the ClusterRoleBinding was created")
	}

	// The Project's service account, for an Application that names none.
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: "*"}}, ServiceAccountName: "deployer"})
	f.create(t, f.application("secret", "secret", f.inProject))
	app = f.waitFor(t, "secret", metav1.ConditionFalse, v1.ReasonPlanFailed, head)
	if msg := readyMessage(app); !strings.Contains(msg, user+` cannot get resource "secrets"`) || strings.Contains(msg, "value-of-s") {
		t.Errorf("message = %q", msg)
	}
	// What the account may touch syncs as usual.
	f.create(t, f.application("own", "own", f.inProject))
	f.waitFor(t, "own", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	if !f.configMapExists(t, f.ns, "settings") {
		t.Error("the allowed ConfigMap was not applied")
	}
	// A Project that names a service account allows no other.
	f.create(t, f.application("own-choice", "own", func(a *v1.Application) {
		f.inProject(a)
		a.Spec.Destination.ServiceAccountName = "default"
	}))
	app = f.waitFor(t, "own-choice", metav1.ConditionFalse, v1.ReasonPolicyDenied, "")
	if msg := readyMessage(app); !strings.Contains(msg, "service account default: the project applies as deployer and allows no other [spec.serviceAccountName]") {
		t.Errorf("message = %q", msg)
	}
}

// Helm values an Application names are read as its service account: one that
// may read ConfigMaps but not Secrets gets the first and is refused the second,
// so an Application cannot read a namespace's Secrets through the controller.
func TestHelmValuesAreReadAsTheServiceAccount(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	f.deployer(t, "deployer")
	head := f.commit(t, "chart", map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/values.yaml":       "level: info\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-settings}\ndata: {level: {{ .Values.level | quote }}}\n",
	})
	for _, o := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-values", Namespace: f.ns}, Data: map[string]string{"values.yaml": "level: debug\n"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-secret", Namespace: f.ns}, StringData: map[string]string{"values.yaml": "level: level-from-the-secret\n"}},
	} {
		if err := f.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	values := func(kind, name string) func(*v1.Application) {
		return func(a *v1.Application) {
			a.Spec.Destination.ServiceAccountName = "deployer"
			a.Spec.Source.Helm = &v1.HelmOptions{ReleaseName: a.Name, ValuesFrom: []v1.ValuesReference{{Kind: kind, Name: name}}}
		}
	}
	f.create(t, f.application("from-configmap", "chart", values("ConfigMap", "web-values")))
	f.waitFor(t, "from-configmap", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "from-configmap-settings"}, cm); err != nil || cm.Data["level"] != "debug" {
		t.Errorf("values from the ConfigMap: %v, data %v", err, cm.Data)
	}

	f.create(t, f.application("from-secret", "chart", values("Secret", "web-secret")))
	app := f.waitFor(t, "from-secret", metav1.ConditionFalse, v1.ReasonRenderFailed, head)
	msg := readyMessage(app)
	if !strings.Contains(msg, `User "system:serviceaccount:`+f.ns+`:deployer" cannot get resource "secrets"`) || strings.Contains(msg, "level-from-the-secret") {
		t.Errorf("message = %q", msg)
	}
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "from-secret-settings"}, &corev1.ConfigMap{}); err == nil {
		t.Error("rendered with values the service account may not read")
	}
}

// The Secrets an Application names for its repository are read as its service
// account: a team cannot make the controller send another team's Git password
// (in the same namespace) to a repository the Project allows. The refusal names
// the permission and none of the Secret's content, and the resolution another
// Application made with its own credentials is not shared with it.
func TestRepositoryCredentialsAreReadAsTheServiceAccount(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	head := f.commit(t, "cm", map[string]string{"app/cm.yaml": configMapYAML})
	// Allowed to apply ConfigMaps, not to read any Secret.
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "no-secrets", Namespace: f.ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "no-secrets", Namespace: f.ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-secrets", Namespace: f.ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-secrets"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "no-secrets", Namespace: f.ns}}},
	} {
		if err := f.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// The controller's own identity may read them: this one syncs, and leaves
	// a fresh resolution of the repository behind.
	f.create(t, f.application("as-controller", "app", nil))
	f.waitFor(t, "as-controller", metav1.ConditionTrue, v1.ReasonSucceeded, head)

	f.create(t, f.application("as-tenant", "app", func(a *v1.Application) {
		a.Spec.Destination.ServiceAccountName = "no-secrets"
		a.Spec.Destination.Namespace = f.ns
	}))
	app := f.waitFor(t, "as-tenant", metav1.ConditionFalse, v1.ReasonSourceFailed, "")
	msg := readyMessage(app)
	want := `spec.source.git.secretRef: reading Secret ` + f.ns + `/git-auth: secrets "git-auth" is forbidden: User "system:serviceaccount:` + f.ns + `:no-secrets" cannot get resource "secrets"`
	if !strings.Contains(msg, want) || strings.Contains(msg, gitPassword) {
		t.Errorf("Ready message %q, want it to contain %q and no password", msg, want)
	}
}

// A value read from a Secret for Helm never comes back in a message, also when
// the chart fails on purpose with it ({{ fail }}), quoted or on several lines.
func TestHelmValuesFromSecretsNeverLeakInFailures(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	head := f.commit(t, "chart that fails with its values", map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": "{{ fail (printf \"bad password %s / %q / %s\" .Values.db.password .Values.db.cert (.Values.db.password | b64enc | b64enc)) }}\n",
	})
	const password, cert = "hunter2-correct-horse", "-----BEGIN CERT-----\nMIIB-line-two\n-----END CERT-----"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-values", Namespace: f.ns},
		StringData: map[string]string{"values.yaml": "db:\n  password: " + password + "\n  cert: |\n    " + strings.ReplaceAll(cert, "\n", "\n    ") + "\n"}}
	if err := f.c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	f.create(t, f.application("web", "chart", func(a *v1.Application) {
		a.Spec.Source.Helm = &v1.HelmOptions{ValuesFrom: []v1.ValuesReference{{Kind: "Secret", Name: "db-values"}}}
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonRenderFailed, head)
	msg := readyMessage(app)
	if strings.Contains(msg, "bad password") || !strings.Contains(msg, "withheld") || !strings.HasPrefix(msg, "chart: ") {
		t.Fatalf("a failure a template wrote with Secret values in reach is not withheld (or does not say where): %q", msg)
	}
	twice := base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(password))))
	assertNowhere(t, f.everywhere(t, "web"), password, "MIIB-line-two", twice)
}

// Without a service account, an Application may name no Secret unless the
// controller is told to read for such Applications (a single team's cluster):
// the controller could read a Secret its author may not, and send it on.
func TestWithoutAServiceAccountNamedSecretsAreRefused(t *testing.T) {
	f := newRepo(t)
	f.commit(t, "cm", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", func(a *v1.Application) { a.Spec.Suspend = true }))
	app := f.get(t, "web")
	clients, err := kube.NewClients(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, allowed := range []bool{false, true} {
		pipeline, _, err := controller.NewPipeline(clients, f.c, controller.PipelineConfig{Render: sandboxedRender(t), RepositoryDir: t.TempDir(), Namespace: shared.opts.Namespace, TenantReadsAsController: allowed})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pipeline.Preview(testenv.Context(t), app, reconcile.PreviewOptions{Fresh: true})
		refused := errors.Is(err, reconcile.ErrNoServiceAccount)
		if refused == allowed {
			t.Errorf("tenant reads as controller %v: preview error %v", allowed, err)
		}
		if refused && !strings.Contains(err.Error(), "spec.source.git.secretRef: Secret "+f.ns+"/git-auth") {
			t.Errorf("the refusal does not name the field and Secret: %v", err)
		}
	}
}
