package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The install applies, server-side, to a real control plane as it is
// (schemas, the CRDs before the Project that needs them), twice (an
// upgrade over itself changes nothing it cannot), and the controller's Pod
// is admitted by the namespace's restricted Pod Security profile.
func TestTheInstallAppliesToARealControlPlane(t *testing.T) {
	ctx := testenv.Context(t)
	c, err := client.New(testenv.Config(t), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := config.Install(config.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, o := range objs {
			// A Project waits for its CRD to be served.
			testenv.Eventually(t, 30*time.Second, "applying "+o.GetKind()+"/"+o.GetName(), func(ctx context.Context) (bool, error) {
				err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("lockstep-install"), client.ForceOwnership)
				return err == nil, err
			})
		}
	}

	// The Deployment's Pod, as its ReplicaSet would create it, dry-run:
	// refused if it breaks the restricted profile.
	var tmpl map[string]any
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			tmpl, _, _ = unstructured.NestedMap(o.Object, "spec", "template")
		}
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, pod); err != nil {
		t.Fatal(err)
	}
	pod.Namespace, pod.GenerateName = "lockstep-system", "lockstep-controller-"
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the controller's Pod is not admitted: %v", err)
	}
	// And the profile is enforced there: a privileged Pod is refused.
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.Privileged = ptrTo(true)
	if err := c.Create(ctx, bad, client.DryRunAll); err == nil {
		t.Error("a privileged Pod is admitted in the install's namespace")
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: "lockstep-system"}, ns); err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %v: %v", ns.Labels, err)
	}
}

func ptrTo[T any](v T) *T { return &v }

// lockstep install applies the install for a namespace and an image, and
// again (an upgrade); --dry-run prints what it would apply.
func TestLockstepInstall(t *testing.T) {
	ctx := testenv.Context(t)
	run := func(args ...string) string {
		t.Helper()
		return lockstep(t, args...)
	}
	const ns, image = "platform-cd", "registry.internal/lockstep:1.2.3"
	printed := run("install", "--dry-run", "--namespace", ns, "--image", image, "--egress", "10.20.0.5", "--api-server", "10.96.0.1")
	if !strings.Contains(printed, "kind: Deployment") || !strings.Contains(printed, "image: "+image) || !strings.Contains(printed, "--namespace="+ns) {
		t.Errorf("--dry-run printed:\n%s", printed)
	}
	kubeconfig := testenv.ControlPlane(t).Kubeconfig
	c, err := client.New(testenv.Config(t), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What kube-apiserver's endpoint reconciler writes in a real cluster: the
	// test's control plane serves on 127.0.0.1, which an EndpointSlice may
	// not hold, so it runs without one and the test writes the slice.
	port := int32(6443)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.96.7.7"}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: &port}},
	}
	if err := c.Create(ctx, slice); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for range 2 {
		out := run("install", "--kubeconfig", kubeconfig, "--namespace", ns, "--image", image, "--egress", "10.20.0.9")
		if !strings.Contains(out, "applied Namespace/"+ns) || !strings.Contains(out, "applied Project/default") {
			t.Errorf("install said:\n%s", out)
		}
	}
	d := &unstructured.Unstructured{}
	d.SetAPIVersion("apps/v1")
	d.SetKind("Deployment")
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lockstep-controller"}, d); err != nil {
		t.Fatal(err)
	}
	if raw, _ := d.MarshalJSON(); !strings.Contains(string(raw), image) || !strings.Contains(string(raw), "--leader-election-namespace="+ns) {
		t.Errorf("the installed Deployment: %s", raw)
	}
	// The NetworkPolicy lets the controller reach the API server at the
	// addresses and port the cluster's kubernetes Service leads to, read by
	// install, and the Git server named with --egress.
	run("install", "--kubeconfig", kubeconfig, "--namespace", ns, "--image", image, "--egress", "10.20.0.5", "--egress-ports", "3000")
	np := &unstructured.Unstructured{}
	np.SetAPIVersion("networking.k8s.io/v1")
	np.SetKind("NetworkPolicy")
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lockstep-controller"}, np); err != nil {
		t.Fatal(err)
	}
	raw, _ := np.MarshalJSON()
	for _, want := range []string{`{"ports":[{"port":6443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.96.7.7/32"}}]}`, `{"ports":[{"port":3000,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.20.0.5/32"}}]}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the NetworkPolicy has no %s: %s", want, raw)
		}
	}
	if strings.Contains(string(raw), "192.0.2.0/24") || strings.Contains(string(raw), "10.0.0.1/32") {
		t.Errorf("the NetworkPolicy kept a placeholder: %s", raw)
	}
}

// Going from two replicas to one: the data volume's access modes cannot
// change, so install refuses until the claim is gone (its ledger moved);
// then it installs one replica and deletes the PodDisruptionBudget of two,
// which would block every drain.
func TestLockstepInstallDownToOneReplica(t *testing.T) {
	ctx := testenv.Context(t)
	const ns = "platform-one"
	kubeconfig := testenv.ControlPlane(t).Kubeconfig
	install := func(extra ...string) (string, error) {
		return runLockstep(ctx, append([]string{"install", "--kubeconfig", kubeconfig, "--namespace", ns, "--egress", "10.20.0.9", "--api-server", "10.96.0.1"}, extra...)...)
	}
	if out, err := install(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	out, err := install("--replicas", "1")
	if err == nil || !strings.Contains(err.Error(), "PersistentVolumeClaim "+ns+"/lockstep-data exists with access modes [ReadWriteMany]") || strings.Contains(out, "applied ") {
		t.Fatalf("install --replicas 1 over a ReadWriteMany claim: %v\n%s", err, out)
	}
	c, err := client.New(testenv.Config(t), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lockstep-data"}, pvc); err != nil {
		t.Fatal(err)
	}
	// The operator moved the ledger and deleted the claim (its protection
	// finalizer lifted by hand: KWOK's Pods never let go of it).
	pvc.Finalizers = nil
	if err := c.Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, pvc); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the claim gone", func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lockstep-data"}, &corev1.PersistentVolumeClaim{})
		return apierrors.IsNotFound(err), err
	})
	out, err = install("--replicas", "1")
	if err != nil || !strings.Contains(out, "deleted PodDisruptionBudget/"+ns+"/lockstep-controller") {
		t.Fatalf("install --replicas 1: %v\n%s", err, out)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lockstep-data"}, pvc); err != nil || len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("the new claim: %v, %v", pvc.Spec.AccessModes, err)
	}
}
