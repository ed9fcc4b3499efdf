package reconcile_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// deployer creates a service account allowed to manage ConfigMaps and
// Deployments in the test's namespace only.
func (f *repoFixture) deployer(t *testing.T, name string) {
	t.Helper()
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
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
