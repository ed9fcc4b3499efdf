// Package config embeds Lockstep's install manifests (config/install, a
// Kustomize base over config/crd and config/rbac) and renders them, so that
// the binary installs exactly what the repository holds.
package config

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

//go:embed crd/kustomization.yaml crd/bases/*.yaml rbac/kustomization.yaml rbac/controller.yaml install/*.yaml
var manifests embed.FS

// InstallOptions change what Install renders.
type InstallOptions struct {
	// Image is the controller's image reference (name:tag or name@digest);
	// empty keeps the base's.
	Image string
	// Namespace is where the controller runs; empty: lockstep-system.
	Namespace string
	// APIServer are the Kubernetes API server's addresses (IPs or CIDRs)
	// the NetworkPolicy lets the controller reach; empty keeps the base's
	// placeholder.
	APIServer []string
	// APIServerPorts replace the NetworkPolicy's API server ports (443 and
	// 6443) when given.
	APIServerPorts []int32
	// Egress are the Git servers' and registries' addresses; empty keeps
	// the base's placeholder.
	Egress []string
	// Replicas of the controller (2 when 0). One replica gets a
	// ReadWriteOnce volume, which every storage class offers, and no
	// PodDisruptionBudget, which would block every drain.
	Replicas int32
	// StorageClass of the data volume; the cluster's default when empty.
	StorageClass string
	// EgressPorts replace the Git servers' and registries' ports (443 and
	// 22) when given.
	EgressPorts []int32
}

// DefaultNamespace is config/install's namespace.
const DefaultNamespace = "lockstep-system"

// Install renders config/install with opts: CRDs, the controller's RBAC,
// its namespace, Deployment, Service, PersistentVolumeClaim, NetworkPolicy,
// PodDisruptionBudget and the strict default Project, in the order they can
// be applied.
func Install(opts InstallOptions) ([]*unstructured.Unstructured, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(manifests, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := manifests.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/", p), data)
	})
	if err != nil {
		return nil, err
	}
	root := "/install"
	if opts.Image != "" || opts.Namespace != "" {
		overlay := map[string]any{
			"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
			"resources": []string{"../install"},
		}
		if opts.Image != "" {
			overlay["images"] = []map[string]string{imageOverride(opts.Image)}
		}
		if opts.Namespace != "" {
			overlay["namespace"] = opts.Namespace
		}
		data, err := yaml.Marshal(overlay)
		if err != nil {
			return nil, err
		}
		if err := mem.WriteFile("/overlay/kustomization.yaml", data); err != nil {
			return nil, err
		}
		root = "/overlay"
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, root)
	if err != nil {
		return nil, fmt.Errorf("rendering the install manifests: %w", err)
	}
	var out []*unstructured.Unstructured
	for _, r := range res.Resources() {
		// Through JSON: Map() keeps YAML's ints, which unstructured cannot copy.
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	clusterScoped(out)
	if err := setEgress(out, opts); err != nil {
		return nil, err
	}
	if out, err = setReplicas(out, opts); err != nil {
		return nil, err
	}
	if opts.Namespace != "" && opts.Namespace != DefaultNamespace {
		if err := moveNamespace(out, opts.Namespace); err != nil {
			return nil, err
		}
	}
	// In the order they can be applied: the namespace first, the CRDs before the
	// custom resources (the default Project, last).
	plan.SortByKind(out)
	return out, nil
}

// baseImage is the image config/install names (its kustomization's images:).
const baseImage = "registry.internal.example/lockstep/lockstep"

// imageOverride is Kustomize's images: entry that makes the base's image
// ref: name@digest (pinned: what an air-gapped install should use) or
// name:tag.
func imageOverride(ref string) map[string]string {
	out := map[string]string{"name": baseImage}
	name, digest, pinned := strings.Cut(ref, "@")
	if pinned {
		out["newName"], out["digest"] = name, digest
		return out
	}
	// A tag follows the last ':' after the last '/' (a registry's port does not).
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		out["newName"], out["newTag"] = ref[:i], ref[i+1:]
		return out
	}
	out["newName"], out["newTag"] = ref, "latest"
	return out
}

// moveNamespace finishes what Kustomize's namespace: does not: the
// Namespace object's own name, and the controller's flags that name it.
func moveNamespace(objs []*unstructured.Unstructured, ns string) error {
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
			o.SetName(ns)
		case "Deployment":
			containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if err != nil {
				return err
			}
			for _, c := range containers {
				c := c.(map[string]any)
				args, _ := c["args"].([]any)
				for i, a := range args {
					if s, ok := a.(string); ok && strings.HasSuffix(s, "="+DefaultNamespace) {
						args[i] = strings.TrimSuffix(s, DefaultNamespace) + ns
					}
				}
			}
			if err := unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"); err != nil {
				return err
			}
		}
	}
	return nil
}

// clusterScoped takes the namespace off the custom resources whose CRD (in
// objs) says they are cluster-scoped: Kustomize's namespace: does not read
// CRDs, so it gives the default Project one.
func clusterScoped(objs []*unstructured.Unstructured) {
	cluster := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		if scope == "Cluster" {
			cluster[group+"/"+kind] = true
		}
	}
	for _, o := range objs {
		if cluster[o.GroupVersionKind().Group+"/"+o.GetKind()] {
			o.SetNamespace("")
		}
	}
}

// reservedNamespaces belong to Kubernetes: the install would relabel them
// for the restricted Pod Security profile and keep them from pruning.
var reservedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

func (o InstallOptions) validate() error {
	if ns := o.Namespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		if reservedNamespaces[ns] || strings.HasPrefix(ns, "kube-") {
			return fmt.Errorf("namespace %q is Kubernetes' own: the install labels its namespace for the restricted Pod Security profile; give Lockstep one of its own", ns)
		}
	}
	if o.Image != "" {
		if _, err := name.ParseReference(o.Image); err != nil {
			return fmt.Errorf("image %q: %w", o.Image, err)
		}
	}
	if o.Replicas < 0 || o.Replicas > 9 {
		return fmt.Errorf("replicas %d: want 1 to 9 (only the leader works; the others stand by)", o.Replicas)
	}
	if errs := validation.IsDNS1123Subdomain(o.StorageClass); o.StorageClass != "" && len(errs) > 0 {
		return fmt.Errorf("storage class %q: %s", o.StorageClass, strings.Join(errs, "; "))
	}
	for _, p := range append(append([]int32{}, o.EgressPorts...), o.APIServerPorts...) {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d: want 1 to 65535", p)
		}
	}
	return nil
}

// setReplicas sets the controller's replicas, and for one replica a
// ReadWriteOnce volume and no PodDisruptionBudget; and the volume's
// storage class.
func setReplicas(objs []*unstructured.Unstructured, o InstallOptions) ([]*unstructured.Unstructured, error) {
	out := objs[:0]
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Deployment":
			if o.Replicas > 0 {
				if err := unstructured.SetNestedField(obj.Object, int64(o.Replicas), "spec", "replicas"); err != nil {
					return nil, err
				}
			}
			// One ReadWriteOnce volume: the new Pod of a rolling update
			// could not mount it while the old one runs elsewhere.
			if o.Replicas == 1 {
				if err := unstructured.SetNestedField(obj.Object, map[string]any{"type": "Recreate"}, "spec", "strategy"); err != nil {
					return nil, err
				}
			}
		case "PersistentVolumeClaim":
			if o.Replicas == 1 {
				if err := unstructured.SetNestedStringSlice(obj.Object, []string{"ReadWriteOnce"}, "spec", "accessModes"); err != nil {
					return nil, err
				}
			}
			if o.StorageClass != "" {
				if err := unstructured.SetNestedField(obj.Object, o.StorageClass, "spec", "storageClassName"); err != nil {
					return nil, err
				}
			}
		case "PodDisruptionBudget":
			if o.Replicas == 1 {
				continue
			}
		}
		out = append(out, obj)
	}
	return out, nil
}
