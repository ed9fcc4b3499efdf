package apply_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// syncer runs one pass of the pipeline's tail (normalize, observe, plan, apply), as
// reconcile will.
type syncer struct {
	t         *testing.T
	applier   *apply.Applier
	namespace string
	inventory []plan.InventoryEntry
	prune     bool
}

func newSyncer(t *testing.T, cfg *rest.Config, namespace string) *syncer {
	clients, err := kube.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &syncer{t: t, applier: apply.New(clients), namespace: namespace, prune: true}
}

func (s *syncer) plan(desired []*unstructured.Unstructured) plan.Plan {
	s.t.Helper()
	ctx := testenv.Context(s.t)
	if err := s.applier.Normalize(desired, s.namespace); err != nil {
		s.t.Fatalf("Normalize: %v", err)
	}
	obs, err := s.applier.Observe(ctx, desired, s.inventory, nil)
	if err != nil {
		s.t.Fatalf("Observe: %v", err)
	}
	p, err := plan.Compute(plan.Input{Desired: desired, DryRun: obs.DryRun, Current: obs.Current, Inventory: s.inventory, Prune: s.prune})
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *syncer) sync(desired []*unstructured.Unstructured) (plan.Plan, apply.ChangeSet, error) {
	s.t.Helper()
	p := s.plan(desired)
	cs, err := s.applier.Apply(testenv.Context(s.t), p, apply.Options{})
	if err == nil {
		s.inventory = p.Inventory()
	}
	return p, cs, err
}

func actions(p plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, string(s.Action)+" "+s.Key.Kind+"/"+s.Key.Name+" "+strings.Join(s.ChangedFields, ","))
	}
	return out
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.internal/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        resources: {requests: {cpu: "0.5", memory: 64Mi}}
`

func configMap(name, level string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {LEVEL: \"" + level + "\"}\n"
}

func TestSyncCreatesThenWritesNothingThenUpdatesAndPrunes(t *testing.T) {
	ns := testenv.Namespace(t)
	s := newSyncer(t, testenv.Config(t), ns)
	dyn := dynamic.NewForConfigOrDie(testenv.Config(t))
	cms := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)

	p, cs, err := s.sync(objects(t, deployment, configMap("settings", "info"), configMap("old", "x")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Create ConfigMap/old ", "Create ConfigMap/settings ", "Create Deployment/web "}, actions(p)); diff != "" {
		t.Errorf("first plan (-want +got):\n%s", diff)
	}
	if len(cs.Applied) != 3 {
		t.Errorf("applied %d objects, want 3", len(cs.Applied))
	}
	before, err := cms.Get(testenv.Context(t), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The same desired state again: the server normalises cpu "0.5" to "500m",
	// and the dry run sees that this is no change.
	p, cs, err = s.sync(objects(t, deployment, configMap("settings", "info"), configMap("old", "x")))
	if err != nil {
		t.Fatal(err)
	}
	if !p.InSync() || len(cs.Applied) != 0 {
		t.Errorf("second sync of the same state is not a no-op:\n%s", p)
	}
	after, _ := cms.Get(testenv.Context(t), "settings", metav1.GetOptions{})
	if after.GetResourceVersion() != before.GetResourceVersion() {
		t.Errorf("a no-op sync wrote ConfigMap/settings (resourceVersion %s → %s)", before.GetResourceVersion(), after.GetResourceVersion())
	}

	// Change one value, drop one object.
	p, _, err = s.sync(objects(t, deployment, configMap("settings", "debug")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Update ConfigMap/settings data.LEVEL", "Unchanged Deployment/web ", "Prune ConfigMap/old "}, actions(p)); diff != "" {
		t.Errorf("third plan (-want +got):\n%s", diff)
	}
	if _, err := cms.Get(testenv.Context(t), "old", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap/old after prune: err = %v, want NotFound", err)
	}
	got, _ := cms.Get(testenv.Context(t), "settings", metav1.GetOptions{})
	if level, _, _ := unstructured.NestedString(got.Object, "data", "LEVEL"); level != "debug" {
		t.Errorf("LEVEL = %q after update, want debug", level)
	}
}

func TestPruneOptOutAndPruneOff(t *testing.T) {
	ns := testenv.Namespace(t)
	s := newSyncer(t, testenv.Config(t), ns)
	kept := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: precious, annotations: {lockstep.dev/prune: disabled}}\n"
	if _, _, err := s.sync(objects(t, kept, configMap("a", "1"))); err != nil {
		t.Fatal(err)
	}
	s.prune = false
	p, cs, err := s.sync(objects(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Pruned) != 0 || p.Counts()[plan.Keep] != 2 {
		t.Errorf("prune off: plan\n%s", p)
	}
	s.prune = true
	p, cs, err = s.sync(objects(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Pruned) != 1 || cs.Pruned[0].Key.Name != "a" || p.Counts()[plan.Keep] != 1 {
		t.Errorf("prune on: pruned %v, plan\n%s", cs.Pruned, p)
	}
}

func TestCRDAndItsResourcesInOneSync(t *testing.T) {
	ns := testenv.Namespace(t)
	group := strings.ReplaceAll(ns, "-", "") + ".example.com" // a group per test: CRDs are cluster-wide
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.` + group + `}
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`
	widget := "apiVersion: " + group + "/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n"
	s := newSyncer(t, testenv.Config(t), ns)
	p, cs, err := s.sync(objects(t, widget, crd))
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, p)
	}
	if len(cs.Applied) != 2 || cs.Applied[0].Key.Kind != "CustomResourceDefinition" {
		t.Errorf("applied %v, want the CRD then the Widget", cs.Applied)
	}
	if cs.Applied[1].Desired.GetNamespace() != ns {
		t.Errorf("Widget namespace = %q, want the destination %q (scope from the CRD)", cs.Applied[1].Desired.GetNamespace(), ns)
	}
	t.Cleanup(func() {
		_ = dynamic.NewForConfigOrDie(testenv.Config(t)).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Delete(testenv.Context(t), "widgets."+group, metav1.DeleteOptions{})
	})
}

func TestFailuresNameTheObjectAndCancelPrunes(t *testing.T) {
	ns := testenv.Namespace(t)
	s := newSyncer(t, testenv.Config(t), ns)
	if _, _, err := s.sync(objects(t, configMap("a", "1"), configMap("b", "1"))); err != nil {
		t.Fatal(err)
	}
	bad := "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n"
	_, cs, err := s.sync(objects(t, configMap("a", "2"), bad))
	var oe *apply.ObjectError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "Service/"+ns+"/bad") {
		t.Fatalf("err = %v, want an ObjectError naming Service/%s/bad", err, ns)
	}
	if !cs.PruneSkipped || len(cs.Pruned) != 0 {
		t.Errorf("a failed apply still pruned: %+v", cs)
	}
	if _, err := dynamic.NewForConfigOrDie(testenv.Config(t)).Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns).Get(testenv.Context(t), "b", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap/b was removed after a failed sync: %v", err)
	}

	unknown := objects(t, "apiVersion: nothing.example.com/v1\nkind: Nothing\nmetadata: {name: x}\n")
	if err := s.applier.Normalize(unknown, ns); !errors.Is(err, apply.ErrUnknownKind) || !strings.Contains(err.Error(), "Nothing") {
		t.Errorf("Normalize of an unknown kind: err = %v", err)
	}
}

// The applier acts with the identity it is given: RBAC decides, and the error
// says which permission is missing.
func TestApplierIsBoundByRBAC(t *testing.T) {
	ns := testenv.Namespace(t)
	admin := testenv.Clientset(t)
	ctx := testenv.Context(t)
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.ServiceAccountConfig(t, ns, "deployer")
	s := newSyncer(t, cfg, ns)
	// RBAC reaches the authorizer through an informer: wait until the grant is seen.
	sa := dynamic.NewForConfigOrDie(cfg).Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := sa.List(ctx, metav1.ListOptions{}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if _, _, err := s.sync(objects(t, configMap("allowed", "1"))); err != nil {
		t.Fatalf("a namespaced ConfigMap within the grant: %v", err)
	}
	role := objects(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: "+ns+"-escalate}\nrules: []\n")
	if err := s.applier.Normalize(role, ns); err != nil {
		t.Fatal(err)
	}
	// Reading is refused already, so the sync stops before any write...
	_, err := s.applier.Observe(ctx, role, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `cannot get resource "clusterroles"`) {
		t.Errorf("observing a ClusterRole as a namespaced deployer: err = %v, want Forbidden naming clusterroles", err)
	}
	// ...and were it attempted, the write is refused too.
	p, err := plan.Compute(plan.Input{Desired: role})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.applier.Apply(ctx, p, apply.Options{})
	if err == nil || !strings.Contains(err.Error(), `cannot patch resource "clusterroles"`) {
		t.Errorf("applying a ClusterRole as a namespaced deployer: err = %v, want Forbidden naming the patch of clusterroles", err)
	}
}
