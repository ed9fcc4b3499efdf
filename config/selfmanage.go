package config

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// SelfName names what makes Lockstep manage itself: the Application, its
// Project, and the service account (with its ClusterRole) it applies as.
const SelfName = "lockstep"

// selfServiceAccount applies the install: a name of its own, so that what
// it may do is granted to it alone.
const selfServiceAccount = "lockstep-self"

// SelfOptions say where the install's manifests live in Git.
type SelfOptions struct {
	// Namespace is the install's (lockstep-system when empty).
	Namespace string
	// URL, Branch and Path of the folder holding the install.
	URL, Branch, Path string
	// GitSecret and CASecret name Secrets in Namespace with the repository's
	// credentials and CA bundle; none when empty.
	GitSecret, CASecret string
}

// SelfManagement is what keeps an install in sync with its folder in Git:
// an Application of that folder, a Project that allows exactly the
// install's kinds from that repository into its namespace, and a service
// account with the rights to apply them (RBAC objects included, so it may
// escalate and bind). None of them is ever pruned: removing them from Git
// must not make Lockstep delete itself or the identity it syncs as.
func SelfManagement(o SelfOptions) ([]*unstructured.Unstructured, error) {
	ns := o.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	keep := map[string]string{plan.PruneAnnotation: plan.PruneDisabled}
	labels := map[string]string{"app.kubernetes.io/name": "lockstep", "app.kubernetes.io/component": "self-management"}
	app := &v1.Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Application"},
		ObjectMeta: metav1.ObjectMeta{Name: SelfName, Namespace: ns, Labels: labels, Annotations: keep},
		Spec: v1.ApplicationSpec{
			Project:     SelfName,
			Source:      v1.Source{Git: v1.GitSource{URL: o.URL, Ref: v1.GitRef{Branch: o.Branch}}, Path: o.Path},
			Destination: v1.Destination{Namespace: ns},
			Sync:        v1.SyncPolicy{Automated: ptr.To(true), Prune: true, SelfHeal: true},
		},
	}
	if o.GitSecret != "" {
		app.Spec.Source.Git.SecretRef = &v1.LocalObjectReference{Name: o.GitSecret}
	}
	if o.CASecret != "" {
		app.Spec.Source.Git.CASecretRef = &v1.LocalObjectReference{Name: o.CASecret}
	}
	project := &v1.Project{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Project"},
		ObjectMeta: metav1.ObjectMeta{Name: SelfName, Labels: labels, Annotations: keep},
		Spec: v1.ProjectSpec{
			Description:      "Lockstep's own install, kept in sync with " + o.URL + " " + o.Path + " (lockstep bootstrap)",
			SourceNamespaces: []string{ns},
			SourceRepos:      []string{o.URL},
			Destinations:     []v1.ProjectDestination{{Namespace: ns}},
			ClusterResources: v1.ResourceRules{Allow: []v1.GroupKind{
				{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
				{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
				{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
				{Group: "", Kind: "Namespace"},
				{Group: v1.GroupVersion.Group, Kind: "Project"},
			}},
			// The install's namespace is labelled for the restricted profile.
			PodSecurityLabels:  true,
			ServiceAccountName: selfServiceAccount,
		},
	}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
		// RBAC objects that grant what the applier does not hold need
		// escalate and bind: the controller's own ClusterRole is one.
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings", "roles", "rolebindings"}, Verbs: append(all, "escalate", "bind")},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts", "services", "persistentvolumeclaims"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: all},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: all},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: all},
		{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"projects", "applications"}, Verbs: all},
		// Health: what the Deployment owns.
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"get", "list", "watch"}},
	}
	if names := nonEmpty(o.GitSecret, o.CASecret); len(names) > 0 {
		// The repository's credentials are read as the Application's service account.
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: names, Verbs: []string{"get"}})
	}
	objs := []runtime.Object{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: selfServiceAccount, Namespace: ns, Labels: labels, Annotations: keep}},
		&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: metav1.ObjectMeta{Name: selfServiceAccount, Labels: labels, Annotations: keep}, Rules: rules},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: selfServiceAccount, Labels: labels, Annotations: keep},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: selfServiceAccount},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: selfServiceAccount, Namespace: ns}},
		},
		project, app,
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	plan.SortByKind(out)
	return out, nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
