package health_test

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/health"
)

func fixtures(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/fixtures.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---\n") {
		// Decoded as the API client decodes (integers as int64), through JSON.
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

func TestHealthOfEachKind(t *testing.T) {
	for _, o := range fixtures(t) {
		want := health.Status(o.GetAnnotations()["want"])
		got := health.Of(o)
		if got.Status != want {
			t.Errorf("%s/%s: %s (%s), want %s", o.GetKind(), o.GetName(), got.Status, got.Message, want)
		}
		if got.Status != health.Healthy && got.Message == "" {
			t.Errorf("%s/%s: %s without a message saying why", o.GetKind(), o.GetName(), got.Status)
		}
	}
}

func TestMissingObject(t *testing.T) {
	if got := health.Of(nil); got.Status != health.Missing {
		t.Errorf("health of a missing object = %s", got.Status)
	}
}

func TestSummaryIsTheWorst(t *testing.T) {
	s := health.Summarize(
		[]string{"a", "b", "c", "d"},
		[]health.Result{{Status: health.Healthy}, {Status: health.Progressing, Message: "rolling"}, {Status: health.Degraded, Message: "crash"}, {Status: health.Degraded, Message: "later"}},
	)
	if s.Status != health.Degraded || s.Object != "c" || s.Message != "crash" {
		t.Errorf("summary = %+v, want the first Degraded object c", s)
	}
	if s := health.Summarize(nil, nil); s.Status != health.Healthy {
		t.Errorf("summary of nothing = %+v, want Healthy", s)
	}
	order := []health.Status{health.Healthy, health.Suspended, health.Progressing, health.Missing, health.Degraded}
	for i := 1; i < len(order); i++ {
		if !health.Worse(order[i], order[i-1]) || health.Worse(order[i-1], order[i]) {
			t.Errorf("%s should be worse than %s", order[i], order[i-1])
		}
	}
}

func TestMalformedStatusIsNotHealthy(t *testing.T) {
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "x", "generation": int64(1)},
		"status": map[string]any{"observedGeneration": "not a number", "conditions": "not a list"},
	}}
	if got := health.Of(o); got.Status == health.Healthy {
		t.Errorf("a Deployment with a malformed status is %s (%s)", got.Status, got.Message)
	}
}
