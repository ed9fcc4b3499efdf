package config_test

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/config"
)

// The install renders every part the issue names, and the controller's Pod
// runs as the restricted profile requires.
func TestTheInstallRendersEveryPart(t *testing.T) {
	objs, err := config.Install(config.InstallOptions{Image: "registry.internal/lockstep@sha256:" + strings.Repeat("a", 64)})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = o
	}
	for _, want := range []string{
		"CustomResourceDefinition/applications.lockstep.dev", "CustomResourceDefinition/projects.lockstep.dev",
		"Namespace/lockstep-system", "ServiceAccount/lockstep-controller", "ClusterRole/lockstep-controller",
		"Deployment/lockstep-controller", "Service/lockstep", "PersistentVolumeClaim/lockstep-data",
		"NetworkPolicy/lockstep-controller", "PodDisruptionBudget/lockstep-controller", "Project/default",
	} {
		if kinds[want] == nil {
			t.Errorf("no %s in the install", want)
		}
	}
	d := kinds["Deployment/lockstep-controller"]
	if d == nil {
		t.FailNow()
	}
	if d.GetNamespace() != "lockstep-system" {
		t.Errorf("the Deployment is in %q", d.GetNamespace())
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	if c["image"] != "registry.internal/lockstep@sha256:"+strings.Repeat("a", 64) {
		t.Errorf("image %v", c["image"])
	}
	sc := c["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("container securityContext %v", sc)
	}
	pod, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec", "securityContext")
	if pod["runAsNonRoot"] != true || pod["seccompProfile"].(map[string]any)["type"] != "RuntimeDefault" {
		t.Errorf("pod securityContext %v", pod)
	}
	args := strings.Join(func() []string {
		var s []string
		for _, a := range c["args"].([]any) {
			s = append(s, a.(string))
		}
		return s
	}(), " ")
	for _, want := range []string{"--leader-elect", "--require-projects", "--data-dir=/var/lib/lockstep"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if p := kinds["Project/default"]; p != nil && p.GetNamespace() != "" {
		t.Errorf("the default Project (cluster-scoped) has namespace %q", p.GetNamespace())
	}
	if p := kinds["Project/default"]; p != nil {
		if repos, _, _ := unstructured.NestedSlice(p.Object, "spec", "sourceRepos"); len(repos) != 0 {
			t.Errorf("the default Project allows repositories: %v", repos)
		}
	}
}

// An image reference becomes the Deployment's image as written: pinned by
// digest, tagged, or on a registry with a port.
func TestTheInstallTakesAnyImageReference(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.internal/lockstep:1.2":                                         "registry.internal/lockstep:1.2",
		"registry.internal:5000/lockstep:1.2":                                    "registry.internal:5000/lockstep:1.2",
		"registry.internal:5000/lockstep":                                        "registry.internal:5000/lockstep:latest",
		"registry.internal/lockstep@sha256:" + strings.Repeat("b", 64):           "registry.internal/lockstep@sha256:" + strings.Repeat("b", 64),
		"registry.internal:5000/team/lockstep@sha256:" + strings.Repeat("c", 64): "registry.internal:5000/team/lockstep@sha256:" + strings.Repeat("c", 64),
	} {
		objs, err := config.Install(config.InstallOptions{Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() != "Deployment" {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if got := containers[0].(map[string]any)["image"]; got != want {
				t.Errorf("%s: image %v, want %s", ref, got, want)
			}
		}
	}
}

// Every CRD make generate writes is in the install.
func TestTheInstallHasEveryGeneratedCRD(t *testing.T) {
	bases, err := os.ReadDir("crd/bases")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile("crd/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bases {
		if !strings.Contains(string(k), "- bases/"+b.Name()+"\n") {
			t.Errorf("config/crd/kustomization.yaml does not list %s", b.Name())
		}
	}
}

// In another namespace, everything namespaced is there, the controller's
// flags and its RBAC subjects name it, and nothing names the default.
func TestTheInstallMovesToAnotherNamespace(t *testing.T) {
	objs, err := config.Install(config.InstallOptions{Namespace: "platform-cd"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		raw, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), config.DefaultNamespace) {
			t.Errorf("%s/%s still names %s: %s", o.GetKind(), o.GetName(), config.DefaultNamespace, raw)
		}
		switch {
		case o.GetKind() == "Namespace" && o.GetName() != "platform-cd":
			t.Errorf("namespace %s", o.GetName())
		case o.GetKind() == "Deployment" && !strings.Contains(string(raw), "--namespace=platform-cd"):
			t.Errorf("the Deployment's flags: %s", raw)
		case o.GetKind() == "ClusterRoleBinding" && !strings.Contains(string(raw), `"namespace":"platform-cd"`):
			t.Errorf("the ClusterRoleBinding's subject: %s", raw)
		}
	}
}

// The NetworkPolicy's placeholders give way to the addresses and ports
// given; a bad address is refused with what would be right; and what is
// left of the placeholders is said.
func TestTheInstallTakesTheNetworkPolicysAddresses(t *testing.T) {
	objs, err := config.Install(config.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := placeholders(objs); len(got) != 2 {
		t.Errorf("the base's placeholders: %v", got)
	}
	objs, err = config.Install(config.InstallOptions{APIServer: []string{"10.96.0.1", "fd00::1"}, APIServerPorts: []int32{6443}, Egress: []string{"10.20.0.0/24"}, EgressPorts: []int32{3000, 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if got := placeholders(objs); len(got) != 0 {
		t.Errorf("placeholders left: %v", got)
	}
	var policy string
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" {
			raw, _ := o.MarshalJSON()
			policy = string(raw)
		}
	}
	for _, want := range []string{
		`{"ports":[{"port":6443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.96.0.1/32"}},{"ipBlock":{"cidr":"fd00::1/128"}}]}`,
		`{"ports":[{"port":3000,"protocol":"TCP"},{"port":5000,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.20.0.0/24"}}]}`,
	} {
		if !strings.Contains(policy, want) {
			t.Errorf("the NetworkPolicy has no %s:\n%s", want, policy)
		}
	}
	for addr, want := range map[string]string{"10.20.0.5/8": "did you mean 10.0.0.0/8", "git.internal": "neither an IP address nor a CIDR", "": "neither"} {
		if _, err := config.Install(config.InstallOptions{Egress: []string{addr}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("egress %q: %v, want %q", addr, err, want)
		}
	}
}

// Options that would install somewhere harmful or nothing valid are refused,
// saying why: Kubernetes' own namespaces (relabelled for the restricted
// profile, kept from pruning), names Kubernetes refuses, images that are no
// reference, ports out of range.
func TestTheInstallRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts config.InstallOptions
		want string
	}{
		{config.InstallOptions{Namespace: "kube-system"}, "Kubernetes' own"},
		{config.InstallOptions{Namespace: "default"}, "Kubernetes' own"},
		{config.InstallOptions{Namespace: "kube-anything"}, "Kubernetes' own"},
		{config.InstallOptions{Namespace: "Bad_NS"}, "RFC 1123"},
		{config.InstallOptions{Image: "a b"}, "could not parse reference"},
		{config.InstallOptions{Image: "registry.internal/lockstep@sha256:zzz"}, "image"},
		{config.InstallOptions{EgressPorts: []int32{70000}}, "port 70000"},
		{config.InstallOptions{APIServerPorts: []int32{0}}, "port 0"},
	} {
		if _, err := config.Install(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.opts, err, c.want)
		}
	}
}

// One replica: a ReadWriteOnce volume (which every storage class offers)
// and no PodDisruptionBudget (which would block every drain).
func TestTheInstallWithOneReplica(t *testing.T) {
	objs, err := config.Install(config.InstallOptions{Replicas: 1, StorageClass: "local-path"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "PodDisruptionBudget":
			t.Error("one replica with a PodDisruptionBudget")
		case "Deployment":
			if n, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); n != 1 {
				t.Errorf("replicas %d", n)
			}
			if s, _, _ := unstructured.NestedString(o.Object, "spec", "strategy", "type"); s != "Recreate" {
				t.Errorf("strategy %q: a rolling update cannot mount a ReadWriteOnce volume twice", s)
			}
		case "PersistentVolumeClaim":
			modes, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "accessModes")
			class, _, _ := unstructured.NestedString(o.Object, "spec", "storageClassName")
			if strings.Join(modes, ",") != "ReadWriteOnce" || class != "local-path" {
				t.Errorf("the volume: %v, %q", modes, class)
			}
		}
	}
	if _, err := config.Install(config.InstallOptions{Replicas: 12}); err == nil {
		t.Error("12 replicas")
	}
}

// placeholders are the base's placeholder addresses left in the
// NetworkPolicy's egress rules.
func placeholders(objs []*unstructured.Unstructured) []string {
	var left []string
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "egress")
		for _, r := range rules {
			to, _, _ := unstructured.NestedSlice(r.(map[string]any), "to")
			for _, t := range to {
				cidr, _, _ := unstructured.NestedString(t.(map[string]any), "ipBlock", "cidr")
				if cidr == "10.0.0.1/32" || cidr == "192.0.2.0/24" {
					left = append(left, cidr)
				}
			}
		}
	}
	return left
}
