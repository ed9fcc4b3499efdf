package testenv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	testenv.Eventually(t, timeout, what, cond)
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.internal.example/web@sha256:" + strings.Repeat("a", 64),
				}}},
			},
		},
	}
}

// A Deployment goes through the real controllers: the deployment controller makes a
// ReplicaSet, the ReplicaSet controller makes Pods, the scheduler binds them to KWOK
// nodes, and KWOK marks them Running and Ready.
func TestDeploymentBecomesAvailable(t *testing.T) {
	ns, cs := testenv.Namespace(t), testenv.Clientset(t)
	if _, err := cs.AppsV1().Deployments(ns).Create(testenv.Context(t), deployment(ns, "web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "Deployment web has 3 available replicas", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 3 {
				return true, nil
			}
		}
		return false, nil
	})
	pods, err := cs.CoreV1().Pods(ns).List(testenv.Context(t), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("Pod %s: node %q phase %s, want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
}

// Namespace deletion needs the namespace controller and garbage collector of the real
// controller manager; with a bare API server it would hang in Terminating forever.
func TestNamespaceIsDeletedCompletely(t *testing.T) {
	cs := testenv.Clientset(t)
	ctx := testenv.Context(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "doomed-"}}
	created, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := created.Name
	if _, err := cs.AppsV1().Deployments(name).Create(ctx, deployment(name, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"a": "b"}}
	if _, err := cs.CoreV1().ConfigMaps(name).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pods exist before deletion", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 2, err
	})
	if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 50*time.Second, "namespace "+name+" is gone", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// Server-side apply records the field manager, a second apply changes only what
// differs, and a watch sees both.
func TestServerSideApplyAndWatch(t *testing.T) {
	ns, cs := testenv.Namespace(t), testenv.Clientset(t)
	ctx := testenv.Context(t)
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=settings"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	apply := func(value string) *corev1.ConfigMap {
		t.Helper()
		cm := corev1ac.ConfigMap("settings", ns).WithData(map[string]string{"LOG_LEVEL": value})
		got, err := cs.CoreV1().ConfigMaps(ns).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "lockstep", Force: true})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := apply("info")
	if len(first.ManagedFields) != 1 || first.ManagedFields[0].Manager != "lockstep" || first.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields = %+v, want one Apply entry by lockstep", first.ManagedFields)
	}
	again := apply("info")
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("applying the same content wrote a new resource version (%s → %s)", first.ResourceVersion, again.ResourceVersion)
	}
	changed := apply("debug")
	if changed.Data["LOG_LEVEL"] != "debug" {
		t.Errorf("LOG_LEVEL = %q after apply, want debug", changed.Data["LOG_LEVEL"])
	}

	var seen []watch.EventType
	timeout := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case ev := <-w.ResultChan():
			seen = append(seen, ev.Type)
		case <-timeout:
			t.Fatalf("watch saw %v, want [ADDED MODIFIED]", seen)
		}
	}
	if seen[0] != watch.Added || seen[1] != watch.Modified {
		t.Errorf("watch saw %v, want [ADDED MODIFIED]", seen)
	}
}

// A service-account client is bound by RBAC: denied until a Role grants access, and
// the denial names the missing permission.
func TestServiceAccountIdentityIsRestricted(t *testing.T) {
	ns, admin := testenv.Namespace(t), testenv.Clientset(t)
	ctx := testenv.Context(t)
	sa, err := kubernetes.NewForConfig(testenv.ServiceAccountConfig(t, ns, "team-a"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing ConfigMaps before any RoleBinding: err = %v, want Forbidden", err)
	}
	if !strings.Contains(err.Error(), "system:serviceaccount:"+ns+":team-a") || !strings.Contains(err.Error(), `cannot list resource "configmaps"`) {
		t.Errorf("error %q does not name the identity and the missing permission", err)
	}

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a-reads", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "team-a", Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the RoleBinding takes effect", func(ctx context.Context) (bool, error) {
		_, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	// Still nothing outside the grant.
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing ConfigMaps in another namespace: err = %v, want Forbidden", err)
	}
}
