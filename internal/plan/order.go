package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindOrder ranks kinds so that what others depend on is applied first: namespaces
// and CRDs before anything that lives in them or is one of them, then identities,
// policies, configuration and storage before the workloads that mount and use
// them. The order follows what Helm and Argo CD users know; unlisted kinds (custom
// resources) come last.
var kindOrder = func() map[string]int {
	kinds := []string{
		"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
		"ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
		"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList",
		"Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
		"ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
		"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
	}
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k] = i
	}
	return m
}()

// Rank is the place of an object's kind in the apply order (lower first). An
// object may need one of a lower rank (a ConfigMap its Namespace, a custom
// resource its CRD); objects of one rank do not need each other, so they may be
// applied, or pruned, at the same time.
func Rank(k object.Key) int {
	if r, ok := kindOrder[k.Kind]; ok {
		return r
	}
	return len(kindOrder)
}

// SortByKind orders objects as a plan applies them (namespaces and CRDs
// first, custom resources last), keeping the order of objects of one rank:
// for installers that apply a fixed set of objects without a plan.
func SortByKind(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return Rank(object.KeyOf(objs[i])) < Rank(object.KeyOf(objs[j])) })
}

// sortForApply orders steps by sync wave, then kind rank, then key, so plans are
// deterministic.
func sortForApply(steps []Step) {
	sort.SliceStable(steps, func(i, j int) bool {
		if steps[i].Wave != steps[j].Wave {
			return steps[i].Wave < steps[j].Wave
		}
		a, b := steps[i].Key, steps[j].Key
		if ra, rb := Rank(a), Rank(b); ra != rb {
			return ra < rb
		}
		return a.String() < b.String()
	})
}

// Sync waves, in the meaning Argo CD users know: objects of a lower wave are
// applied, and healthy, before those of a higher one. Argo CD's own annotation is
// read too, so repositories written for it move over unchanged; Lockstep's wins
// when both are set.
const (
	WaveAnnotation     = "lockstep.dev/sync-wave"
	ArgoWaveAnnotation = "argocd.argoproj.io/sync-wave"
)

// waveOf reads an object's sync wave; 0 when it has none.
func waveOf(o *unstructured.Unstructured) (int, error) {
	ann := o.GetAnnotations()
	for _, name := range []string{WaveAnnotation, ArgoWaveAnnotation} {
		v, ok := ann[name]
		if !ok {
			continue
		}
		w, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%s: annotation %s is %q, not a whole number", object.KeyOf(o), name, v)
		}
		return w, nil
	}
	return 0, nil
}

// Waves splits the plan's Create, Update and Unchanged steps into their waves,
// lowest first.
func (p Plan) Waves() [][]Step {
	var waves [][]Step
	for _, s := range p.Steps {
		if s.Action == Prune || s.Action == Keep {
			continue
		}
		if n := len(waves); n == 0 || waves[n-1][0].Wave != s.Wave {
			waves = append(waves, nil)
		}
		waves[len(waves)-1] = append(waves[len(waves)-1], s)
	}
	return waves
}
