package policy_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// The policy gate runs on every pass of every Application: what it costs per
// object, with every rule on.
func BenchmarkCheckObjects(b *testing.B) {
	r, err := policy.Compile(&v1.Project{Spec: v1.ProjectSpec{
		SourceRepos:         []string{"https://git.internal/team-a/**"},
		Destinations:        []v1.ProjectDestination{{Namespace: "team-a-*"}},
		NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}}},
		Images:              &v1.ImagePolicy{Registries: []string{"registry.internal"}, RequireDigest: true},
		Secrets:             &v1.SecretPolicy{RefusePlain: true},
	}})
	if err != nil {
		b.Fatal(err)
	}
	const n = 500
	objs := make([]policy.Object, n)
	for i := range objs {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": fmt.Sprintf("web-%d", i), "namespace": "team-a-prod"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"initContainers": []any{map[string]any{"name": "init", "image": "registry.internal/init@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
				"containers":     []any{map[string]any{"name": "web", "image": "registry.internal/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
			}}},
		}}
		objs[i] = policy.Object{Unstructured: u, File: "apps/web/deploy.yaml"}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := r.CheckObjects("in-cluster", objs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/object")
}
