package config_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// apiServer is the API server address the tests' installs are given
// (--api-server): the control plane serves on 127.0.0.1, which the
// NetworkPolicy may hold but the kubernetes EndpointSlice may not.
const apiServer = "10.96.0.1"

// Each previous install in testdata, applied as its lockstep install did,
// upgrades to the current one: the team's Applications and Projects are
// left as they were and still valid, what the new manifests dropped is
// gone (the API's Service selects no Pods any more), what they added is
// there, the CRDs store one version, and a second install changes nothing.
func TestUpgradeFromAPreviousInstall(t *testing.T) {
	files, err := filepath.Glob("testdata/install-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no previous install in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) { testUpgrade(t, f) })
	}
}

func testUpgrade(t *testing.T, previous string) {
	ctx := testenv.Context(t)
	c := adminClient(t)
	ns, team := testenv.Namespace(t), testenv.Namespace(t)

	// The previous install, in this test's namespace, as its lockstep
	// install applied it (its --namespace renamed the same strings).
	data, err := os.ReadFile(previous)
	if err != nil {
		t.Fatal(err)
	}
	old := decodeObjects(t, strings.ReplaceAll(string(data), config.DefaultNamespace, ns))
	for _, o := range old {
		testenv.Eventually(t, 30*time.Second, "applying the previous "+o.GetKind()+"/"+o.GetName(), func(ctx context.Context) (bool, error) {
			err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("lockstep-install"), client.ForceOwnership)
			return err == nil, err
		})
	}
	if sel, _, _ := unstructured.NestedMap(get(t, c, "v1", "Service", ns, "lockstep").Object, "spec", "selector"); len(sel) == 0 {
		t.Fatal("the previous install's Service lockstep selects no Pods: nothing to upgrade from")
	}

	// A team's Project and Application, made under the previous install.
	suffix := ns[strings.LastIndex(ns, "-")+1:]
	project := object(t, `apiVersion: lockstep.dev/v1alpha1
kind: Project
metadata: {name: team-`+suffix+`}
spec:
  description: The payments team.
  sourceRepos: ["https://git.internal/payments/*"]
  destinations: [{namespace: payments}]
  namespacedResources:
    allow: [{group: apps, kind: Deployment}, {group: "", kind: Service}]
  serviceAccountName: payments-deployer
  images: {registries: [registry.internal/payments], requireDigest: true}
`)
	app := object(t, `apiVersion: lockstep.dev/v1alpha1
kind: Application
metadata: {name: payments, namespace: `+team+`}
spec:
  project: team-`+suffix+`
  source:
    git: {url: "https://git.internal/payments/config.git", ref: {branch: main}}
    path: environments/prod
    substitute: {region: north}
  destination: {namespace: payments}
  sync: {interval: 10m, prune: true}
`)
	for _, o := range []*unstructured.Unstructured{project, app} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %s/%s under the previous install: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = c.Delete(context.WithoutCancel(ctx), o) })
	}
	before := []*unstructured.Unstructured{get(t, c, "lockstep.dev/v1alpha1", "Project", "", project.GetName()), get(t, c, "lockstep.dev/v1alpha1", "Application", team, app.GetName())}

	// The upgrade.
	args := []string{"install", "--kubeconfig", testenv.ControlPlane(t).Kubeconfig, "--namespace", ns, "--api-server", apiServer, "--egress", "10.20.0.5"}
	lockstep(t, args...)

	// The team's objects: as they were, untouched, and still valid (a copy
	// is created, dry-run: validation ratchets unchanged fields on update).
	for _, b := range before {
		after := get(t, c, b.GetAPIVersion(), b.GetKind(), b.GetNamespace(), b.GetName())
		if diff := cmp.Diff(b.Object["spec"], after.Object["spec"]); diff != "" {
			t.Errorf("%s/%s changed in the upgrade (-before +after):\n%s", b.GetKind(), b.GetName(), diff)
		}
		if after.GetResourceVersion() != b.GetResourceVersion() {
			t.Errorf("%s/%s was written in the upgrade", b.GetKind(), b.GetName())
		}
		copied := &unstructured.Unstructured{Object: map[string]any{"apiVersion": b.GetAPIVersion(), "kind": b.GetKind(), "spec": after.Object["spec"]}}
		copied.SetName(b.GetName() + "-copy")
		copied.SetNamespace(b.GetNamespace())
		if err := c.Create(ctx, copied, client.DryRunAll); err != nil {
			t.Errorf("%s/%s no longer validates: %v", b.GetKind(), b.GetName(), err)
		}
	}

	// What the new manifests dropped is gone: server-side apply by the same
	// field manager removes the fields it no longer applies.
	svc := get(t, c, "v1", "Service", ns, "lockstep")
	if sel, found, _ := unstructured.NestedFieldNoCopy(svc.Object, "spec", "selector"); found {
		t.Errorf("the Service lockstep still selects Pods after the upgrade: %v", sel)
	}
	// What they added is there.
	metrics := get(t, c, "v1", "Service", ns, "lockstep-metrics")
	if sel, _, _ := unstructured.NestedStringMap(metrics.Object, "spec", "selector"); sel["app.kubernetes.io/component"] != "controller" {
		t.Errorf("the Service lockstep-metrics selects %v", sel)
	}
	containers, _, _ := unstructured.NestedSlice(get(t, c, "apps/v1", "Deployment", ns, "lockstep-controller").Object, "spec", "template", "spec", "containers")
	controller := containers[0].(map[string]any)
	if args, _ := controller["args"].([]any); !slices.Contains(args, any("--api-service=lockstep")) {
		t.Errorf("the controller's args: %v", args)
	}
	var env []string
	for _, e := range controller["env"].([]any) {
		env = append(env, e.(map[string]any)["name"].(string))
	}
	if want := []string{"TMPDIR", "POD_IP", "POD_NAME"}; !slices.Equal(env, want) {
		t.Errorf("the controller's env: %v, want %v", env, want)
	}
	rules, _, _ := unstructured.NestedSlice(get(t, c, "rbac.authorization.k8s.io/v1", "Role", ns, "lockstep-controller").Object, "rules")
	if raw, _ := json.Marshal(rules); !strings.Contains(string(raw), `"resourceNames":["lockstep"],"resources":["endpointslices"],"verbs":["get","patch","delete"]`) {
		t.Errorf("the Role's rules: %s", raw)
	}
	np, _ := get(t, c, "networking.k8s.io/v1", "NetworkPolicy", ns, "lockstep-controller").MarshalJSON()
	if !strings.Contains(string(np), `"cidr":"`+apiServer+`/32"`) || strings.Contains(string(np), "10.0.0.1/32") {
		t.Errorf("the NetworkPolicy's API server address: %s", np)
	}
	for _, name := range []string{"applications.lockstep.dev", "projects.lockstep.dev"} {
		stored, _, _ := unstructured.NestedStringSlice(get(t, c, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", name).Object, "status", "storedVersions")
		if !slices.Equal(stored, []string{"v1alpha1"}) {
			t.Errorf("CustomResourceDefinition %s stores %v, want [v1alpha1]", name, stored)
		}
	}

	// A second install changes nothing. A controller may write an object's
	// status meanwhile (the Deployment's, the PodDisruptionBudget's), so an
	// object written since must have kept its generation and the install's
	// own managed fields, time included (a second apart: the time has
	// seconds only).
	objs, err := config.Install(config.InstallOptions{Namespace: ns, APIServer: []string{apiServer}})
	if err != nil {
		t.Fatal(err)
	}
	first := snapshot(t, c, objs)
	time.Sleep(1100 * time.Millisecond)
	lockstep(t, args...)
	if diff := cmp.Diff(first, snapshot(t, c, objs), cmp.Comparer(sameWrite)); diff != "" {
		t.Errorf("the second install changed (-first +second):\n%s", diff)
	}
}

// The stored versions guard: a CRD that stores objects at a version the
// install no longer serves (an older release's v1alpha0, here made up) makes
// install refuse before it changes anything, saying what to do; done as it
// says, the install goes ahead and the objects read back. The API server
// alone would refuse the CRD too, but only once the objects before it were
// applied.
func TestStoredVersionsGuardOnARealControlPlane(t *testing.T) {
	ctx := testenv.Context(t)
	c := adminClient(t)
	team := testenv.Namespace(t)
	ns := team + "-cd" // the install's: it does not exist until the install succeeds
	t.Cleanup(func() {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind("Namespace")
		o.SetName(ns)
		_ = c.Delete(context.WithoutCancel(ctx), o)
	})
	objs, err := config.Install(config.InstallOptions{Namespace: ns, APIServer: []string{apiServer}})
	if err != nil {
		t.Fatal(err)
	}
	var current *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			applyCRD(t, c, o)
			if o.GetName() == "applications.lockstep.dev" {
				current = o
			}
		}
	}

	// An older release's Application CRD: v1alpha0 its storage version,
	// v1alpha1 served too. An Application written now is stored at v1alpha0.
	older := withStorage(t, withVersion(t, current, "v1alpha0", true), "v1alpha0")
	applyCRD(t, c, older)
	app := object(t, `apiVersion: lockstep.dev/v1alpha1
kind: Application
metadata: {name: web, namespace: `+team+`}
spec:
  source: {git: {url: "https://git.internal/team/config.git", ref: {branch: main}}, path: apps/web}
  destination: {namespace: web}
`)
	if err := c.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	// The API server switches its storage version a moment after the CRD
	// changed: written again until etcd holds it at v1alpha0.
	writeBackUntilStoredAt(t, c, app, "lockstep.dev/v1alpha0")
	crd := get(t, c, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", current.GetName())
	if stored, _, _ := unstructured.NestedStringSlice(crd.Object, "status", "storedVersions"); !slices.Contains(stored, "v1alpha0") {
		t.Fatalf("storedVersions %v: no v1alpha0", stored)
	}

	// The API server alone refuses the current CRD, which drops v1alpha0.
	err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(current.DeepCopy()), client.FieldOwner("lockstep-install"), client.ForceOwnership, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "storedVersions") {
		t.Errorf("the API server accepted a CRD without a stored version: %v", err)
	}

	// lockstep install refuses, naming the CRD, the versions and what to do,
	// and changes nothing.
	before := snapshot(t, c, objs)
	args := []string{"install", "--kubeconfig", testenv.ControlPlane(t).Kubeconfig, "--namespace", ns, "--api-server", apiServer, "--egress", "10.20.0.5"}
	out, err := runLockstep(ctx, args...)
	if err == nil {
		t.Fatalf("install went ahead over a stored v1alpha0:\n%s", out)
	}
	for _, want := range []string{"nothing was installed or changed", "CustomResourceDefinition applications.lockstep.dev", "stored at v1alpha0", "v1alpha1, v1alpha0", "write it back", "storedVersions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if strings.Contains(out, "applied ") {
		t.Errorf("install applied something before it refused:\n%s", out)
	}
	if diff := cmp.Diff(before, snapshot(t, c, objs)); diff != "" {
		t.Errorf("the refused install changed (-before +after):\n%s", diff)
	}
	if _, err := getErr(ctx, c, "v1", "Namespace", "", ns); !apierrors.IsNotFound(err) {
		t.Errorf("the refused install's namespace: %v", err)
	}

	// Done as the error says: storage at v1alpha1, every Application written
	// back, v1alpha0 removed from the stored versions. Then the install goes
	// ahead, and the Application reads back as it was.
	applyCRD(t, c, withStorage(t, withVersion(t, current, "v1alpha0", true), "v1alpha1"))
	writeBackUntilStoredAt(t, c, app, "lockstep.dev/v1alpha1")
	patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"storedVersions":["v1alpha1"]}}`))
	if err := c.Status().Patch(ctx, crd, patch); err != nil {
		t.Fatal(err)
	}
	if out, err := runLockstep(ctx, args...); err != nil {
		t.Fatalf("install after the migration: %v\n%s", err, out)
	}
	crd = get(t, c, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", current.GetName())
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	stored, _, _ := unstructured.NestedStringSlice(crd.Object, "status", "storedVersions")
	if len(versions) != 1 || !slices.Equal(stored, []string{"v1alpha1"}) {
		t.Errorf("after the install: %d versions, stored %v", len(versions), stored)
	}
	got := get(t, c, "lockstep.dev/v1alpha1", "Application", team, "web")
	if diff := cmp.Diff(app.Object["spec"], got.Object["spec"]); diff != "" {
		t.Errorf("the Application after the migration (-want +got):\n%s", diff)
	}
}

func adminClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(testenv.Config(t), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runLockstep runs the lockstep command as a user would, returning what it
// printed and its error.
func runLockstep(ctx context.Context, args ...string) (string, error) {
	cmd := cli.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func lockstep(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runLockstep(testenv.Context(t), args...)
	if err != nil {
		t.Fatalf("lockstep %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// decodeObjects reads a YAML stream of objects.
func decodeObjects(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var out []*unstructured.Unstructured
	for {
		o := &unstructured.Unstructured{}
		err := dec.Decode(&o.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Object) > 0 {
			out = append(out, o)
		}
	}
}

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	o := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
		t.Fatal(err)
	}
	return o
}

func getErr(ctx context.Context, c client.Client, apiVersion, kind, ns, name string) (*unstructured.Unstructured, error) {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	return o, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o)
}

func get(t *testing.T, c client.Client, apiVersion, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := getErr(testenv.Context(t), c, apiVersion, kind, ns, name)
	if err != nil {
		t.Fatalf("reading %s/%s: %v", kind, name, err)
	}
	return o
}

// written is what a write to an object changes: its resourceVersion, and
// what the install owns of it (its generation and the install's managed
// fields entry); "absent" when it does not exist.
type written struct {
	ResourceVersion string
	Generation      int64
	Install         string
}

// sameWrite: no write at all, or one that left the install's part alone.
func sameWrite(a, b written) bool {
	return a.ResourceVersion == b.ResourceVersion || (a.Generation == b.Generation && a.Install == b.Install)
}

// snapshot says, for each object the install applies, how it was last
// written.
func snapshot(t *testing.T, c client.Client, objs []*unstructured.Unstructured) map[string]written {
	t.Helper()
	out := map[string]written{}
	for _, o := range objs {
		key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		live, err := getErr(testenv.Context(t), c, o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
		if apierrors.IsNotFound(err) {
			out[key] = written{ResourceVersion: "absent"}
			continue
		}
		if err != nil {
			t.Fatalf("reading %s: %v", key, err)
		}
		w := written{ResourceVersion: live.GetResourceVersion(), Generation: live.GetGeneration()}
		for _, m := range live.GetManagedFields() {
			if m.Manager == "lockstep-install" && m.Operation == metav1.ManagedFieldsOperationApply {
				raw, _ := json.Marshal(m)
				w.Install = string(raw)
			}
		}
		out[key] = w
	}
	return out
}

// withStorage makes version the CRD's storage version.
func withStorage(t *testing.T, crd *unstructured.Unstructured, version string) *unstructured.Unstructured {
	t.Helper()
	out := crd.DeepCopy()
	versions, _, _ := unstructured.NestedSlice(out.Object, "spec", "versions")
	for _, v := range versions {
		v.(map[string]any)["storage"] = v.(map[string]any)["name"] == version
	}
	if err := unstructured.SetNestedSlice(out.Object, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	return out
}

// applyCRD applies a CRD as lockstep install does, and waits until it is
// established.
func applyCRD(t *testing.T, c client.Client, crd *unstructured.Unstructured) {
	t.Helper()
	ctx := testenv.Context(t)
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd.DeepCopy()), client.FieldOwner("lockstep-install"), client.ForceOwnership); err != nil {
		t.Fatalf("applying CustomResourceDefinition %s: %v", crd.GetName(), err)
	}
	testenv.Eventually(t, 30*time.Second, crd.GetName()+" established", func(ctx context.Context) (bool, error) {
		live, err := getErr(ctx, c, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", crd.GetName())
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		for _, cond := range conditions {
			cond := cond.(map[string]any)
			if cond["type"] == "Established" && cond["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// writeBackUntilStoredAt reads o and writes it back, unchanged, until etcd
// holds it at apiVersion: what a storage migration does.
func writeBackUntilStoredAt(t *testing.T, c client.Client, o *unstructured.Unstructured, apiVersion string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, o.GetName()+" stored at "+apiVersion, func(ctx context.Context) (bool, error) {
		live, err := getErr(ctx, c, o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
		if err != nil {
			return false, err
		}
		if err := c.Update(ctx, live); err != nil {
			return false, err
		}
		got, err := storedAt(ctx, t, "/registry/lockstep.dev/applications/"+o.GetNamespace()+"/"+o.GetName())
		return got == apiVersion, fmt.Errorf("stored at %q: %w", got, err)
	})
}

// storedAt reads the apiVersion an object is stored at straight from etcd
// (its JSON gateway: custom resources are stored as JSON).
func storedAt(ctx context.Context, t *testing.T, key string) (string, error) {
	body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))})
	url := "http://127.0.0.1:" + strconv.Itoa(testenv.ControlPlane(t).Ports["etcd"]) + "/v3/kv/range"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var got struct {
		KVs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return "", err
	}
	if len(got.KVs) != 1 {
		return "", fmt.Errorf("etcd has %d values at %s", len(got.KVs), key)
	}
	var stored struct {
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(got.KVs[0].Value, &stored); err != nil {
		return "", err
	}
	return stored.APIVersion, nil
}
