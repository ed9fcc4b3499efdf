package policy

import (
	"fmt"
	"strings"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// CheckObjects checks every rendered object against the kind, destination,
// image and Secret rules. Objects must be normalised first: a namespaced
// object carries its namespace, a cluster-scoped one none.
func (r *Rules) CheckObjects(cluster string, objs []Object) error {
	var vs []Violation
	for _, o := range objs {
		vs = append(vs, r.checkObject(cluster, o)...)
	}
	return r.verdict(vs)
}

func (r *Rules) checkObject(cluster string, o Object) []Violation {
	gvk := o.GroupVersionKind()
	violation := func(rule, format string, args ...any) Violation {
		return Violation{Object: identity(o), File: o.File, Rule: rule, Message: fmt.Sprintf(format, args...)}
	}
	vs := r.checkPlace(cluster, object.KeyOf(o.Unstructured), violation)
	if o.GetNamespace() == "" && gvk.Group == "" && gvk.Kind == "Namespace" && !r.spec.PodSecurityLabels {
		for label := range o.GetLabels() {
			if strings.HasPrefix(label, podSecurityPrefix) {
				vs = append(vs, violation("spec.podSecurityLabels", "label %s sets the namespace's pod security, which the project does not allow", label))
				break
			}
		}
	}
	if gvk.Group == "" && gvk.Kind == "Secret" && r.spec.Secrets != nil && r.spec.Secrets.RefusePlain && !o.Encrypted {
		vs = append(vs, violation("spec.secrets.refusePlain", "the Secret is not SOPS-encrypted in Git"))
	}
	if r.spec.Images != nil {
		for _, c := range containers(o.Unstructured) {
			if rule, msg := checkImage(r.spec.Images, c.image); msg != "" {
				vs = append(vs, violation(rule, "%s %q: image %s %s", c.field, c.name, c.image, msg))
			}
		}
	}
	return vs
}

// podSecurityPrefix starts the labels that set a namespace's Pod Security
// Admission level.
const podSecurityPrefix = "pod-security.kubernetes.io/"

// checkPlace checks where an object is, to be applied or pruned: its kind
// (cluster-scoped kinds from clusterResources, namespaced ones from
// namespacedResources) and its namespace against destinations. A Namespace
// object is a destination of its own, by its name: a team must not create,
// take over or delete another team's namespace.
func (r *Rules) checkPlace(cluster string, k object.Key, violation func(rule, format string, args ...any) Violation) []Violation {
	var vs []Violation
	kind := kindName(k.Group, k.Kind)
	if k.Namespace == "" {
		if !matchesAny(r.spec.ClusterResources.Allow, k.Group, k.Kind) || matchesAny(r.spec.ClusterResources.Deny, k.Group, k.Kind) {
			vs = append(vs, violation("spec.clusterResources", "cluster-scoped kind %s is not allowed", kind))
		}
		if k.Group == "" && k.Kind == "Namespace" && !r.DestinationAllowed(cluster, k.Name) {
			vs = append(vs, violation("spec.destinations", "namespace %s is not one of the project's destinations", k.Name))
		}
		return vs
	}
	allow := r.spec.NamespacedResources.Allow
	if (len(allow) > 0 && !matchesAny(allow, k.Group, k.Kind)) || matchesAny(r.spec.NamespacedResources.Deny, k.Group, k.Kind) {
		vs = append(vs, violation("spec.namespacedResources", "kind %s is not allowed", kind))
	}
	if !r.DestinationAllowed(cluster, k.Namespace) {
		vs = append(vs, violation("spec.destinations", "namespace %s is not one of the project's destinations", k.Namespace))
	}
	return vs
}

// matchesAny reports whether group and kind match one of the rules; * matches
// any group or kind.
func matchesAny(rules []v1.GroupKind, group, kind string) bool {
	for _, gk := range rules {
		if (gk.Group == "*" || gk.Group == group) && (gk.Kind == "*" || strings.EqualFold(gk.Kind, kind)) {
			return true
		}
	}
	return false
}

func kindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

func identity(o Object) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}

// CheckPrunes checks what a sync would delete against the rules as they are
// now: an Application may delete only what it may apply. Otherwise a Project
// tightened after a sync (a namespace given to another team, a kind taken
// away) would still let the Application delete those objects.
func (r *Rules) CheckPrunes(cluster string, keys []object.Key) error {
	var vs []Violation
	for _, k := range keys {
		violation := func(rule, format string, args ...any) Violation {
			return Violation{Object: k.Kind + "/" + strings.TrimPrefix(k.Namespace+"/", "/") + k.Name, Rule: rule, Message: "pruning it: " + fmt.Sprintf(format, args...)}
		}
		vs = append(vs, r.checkPlace(cluster, k, violation)...)
	}
	return r.verdict(vs)
}
