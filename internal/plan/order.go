package plan

import "sort"

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

func rank(k Key) int {
	if r, ok := kindOrder[k.Kind]; ok {
		return r
	}
	return len(kindOrder)
}

// sortForApply orders steps by kind rank, then by key, so plans are deterministic.
func sortForApply(steps []Step) {
	sort.SliceStable(steps, func(i, j int) bool {
		a, b := steps[i].Key, steps[j].Key
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		return a.String() < b.String()
	})
}
