package health_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/health"
)

// maxMessage is the longest message (in characters) a delivery rule may give.
const maxMessage = 1024

// wantLine is a fixture's expectation: `# want: Status "message substring"`.
var wantLine = regexp.MustCompile(`(?m)^# want: (\w+)(?: "(.*)")?$`)

// deliveryFixture is one file under testdata/<kind>/.
type deliveryFixture struct {
	path, kind string
	want       health.Status
	substring  string
	obj        *unstructured.Unstructured
	json       []byte
}

func deliveryFixtures(t testing.TB) []deliveryFixture {
	t.Helper()
	paths, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures under testdata/*/ (%v)", err)
	}
	var out []deliveryFixture
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := wantLine.FindSubmatch(data)
		if m == nil {
			t.Fatalf("%s: no `# want: Status \"substring\"` line", p)
		}
		// Decoded as the API client decodes (integers as int64), through JSON.
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, deliveryFixture{
			path: p, kind: filepath.Base(filepath.Dir(p)),
			want: health.Status(m[1]), substring: string(m[2]), obj: u, json: js,
		})
	}
	return out
}

func TestDeliveryFixtures(t *testing.T) {
	covered := map[string]map[health.Status]bool{}
	for _, f := range deliveryFixtures(t) {
		t.Run(strings.TrimPrefix(f.path, "testdata/"), func(t *testing.T) {
			got := health.Of(f.obj)
			if got.Status != f.want || !strings.Contains(got.Message, f.substring) {
				t.Errorf("got %s %q, want %s with %q", got.Status, got.Message, f.want, f.substring)
			}
			if got.Status != health.Healthy && got.Message == "" {
				t.Errorf("%s without a message saying why", got.Status)
			}
		})
		if covered[f.kind] == nil {
			covered[f.kind] = map[health.Status]bool{}
		}
		covered[f.kind][f.want] = true
	}
	// Every kind has a fixture for each health it can report.
	for kind, statuses := range map[string][]health.Status{
		"rollout":            {health.Healthy, health.Progressing, health.Suspended, health.Degraded},
		"canary":             {health.Healthy, health.Progressing, health.Suspended, health.Degraded},
		"sealedsecret":       {health.Healthy, health.Progressing, health.Degraded},
		"externalsecret":     {health.Healthy, health.Progressing, health.Degraded},
		"secretstore":        {health.Healthy, health.Progressing, health.Degraded},
		"clustersecretstore": {health.Healthy, health.Progressing, health.Degraded},
		"certificate":        {health.Healthy, health.Progressing, health.Degraded},
	} {
		for _, s := range statuses {
			if !covered[kind][s] {
				t.Errorf("testdata/%s has no %s fixture", kind, s)
			}
		}
	}
}

// deliveryKinds are the kinds the delivery rules cover, each at a version its
// tool serves.
var deliveryKinds = []struct{ apiVersion, kind string }{
	{"argoproj.io/v1alpha1", "Rollout"},
	{"flagger.app/v1beta1", "Canary"},
	{"bitnami.com/v1alpha1", "SealedSecret"},
	{"external-secrets.io/v1", "ExternalSecret"},
	{"external-secrets.io/v1beta1", "SecretStore"},
	{"external-secrets.io/v1", "ClusterSecretStore"},
	{"cert-manager.io/v1", "Certificate"},
}

// TestDeliveryMatchesEveryVersion: the rules key on group and kind, so a
// version nobody has released yet gets the same verdict.
func TestDeliveryMatchesEveryVersion(t *testing.T) {
	for _, f := range deliveryFixtures(t) {
		o := f.obj.DeepCopy()
		o.SetAPIVersion(o.GroupVersionKind().Group + "/v9")
		if got, want := health.Of(o), health.Of(f.obj); got != want {
			t.Errorf("%s as %s: %+v, want %+v", f.path, o.GetAPIVersion(), got, want)
		}
	}
}

// TestDeliveryHostileStatus feeds every kind statuses of the wrong shape: no
// panic, no Healthy, a bounded message.
func TestDeliveryHostileStatus(t *testing.T) {
	statuses := map[string]any{
		"status is a string":        "Healthy",
		"status is a list":          []any{"Healthy"},
		"conditions is a string":    map[string]any{"conditions": "Ready"},
		"conditions of junk":        map[string]any{"conditions": []any{int64(5), "Ready", nil, []any{}, map[string]any{"type": int64(1), "status": true}}},
		"condition fields mistyped": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": true, "message": int64(42)}, map[string]any{"type": "Synced", "status": map[string]any{}}}},
		"numbers are not numbers": map[string]any{
			"phase": int64(3), "observedGeneration": true, "currentStepIndex": "two", "canaryWeight": "lots",
			"replicas": "5", "updatedReplicas": []any{}, "syncedResourceVersion": int64(7), "pauseConditions": "yes",
		},
		"a bare phase":   map[string]any{"phase": "Degraded"},
		"a bare message": map[string]any{"phase": "Progressing", "message": ""},
		"nested objects mistyped": map[string]any{
			"canary": "x", "blueGreen": int64(1), "currentPodHash": map[string]any{}, "stableRS": []any{}, "message": int64(1),
		},
	}
	for _, k := range deliveryKinds {
		for name, st := range statuses {
			o := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": k.apiVersion, "kind": k.kind,
				"metadata": map[string]any{"name": "x", "generation": int64(2)},
				"spec":     map[string]any{"replicas": "three", "strategy": "canary", "paused": "no"},
				"status":   st,
			}}
			got := checkedOf(t, o)
			if got.Status == health.Healthy {
				t.Errorf("%s, %s: Healthy (%s)", k.kind, name, got.Message)
			}
		}
		// And the object around the status: metadata and spec of the wrong shape.
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": k.apiVersion, "kind": k.kind, "metadata": "x", "spec": int64(1), "status": map[string]any{},
		}}
		checkedOf(t, o)
	}
}

// TestDeliveryHugeMessages: a controller (or anyone with status rights) can
// write a megabyte of message; the verdict keeps the start of it, cut.
func TestDeliveryHugeMessages(t *testing.T) {
	huge := strings.Repeat("no key could decrypt secret \n\t ", 40000) + "\xff"
	failing := map[string]map[string]any{
		"Rollout": {"observedGeneration": "1", "phase": "Degraded", "message": huge,
			"canary": map[string]any{"currentStepAnalysisRunStatus": map[string]any{"name": huge, "status": "Failed", "message": huge}}},
		"Canary":             {"phase": "Failed", "conditions": []any{cond("Promoted", "False", huge)}},
		"SealedSecret":       {"observedGeneration": int64(1), "conditions": []any{cond("Synced", "False", huge)}},
		"ExternalSecret":     {"conditions": []any{cond("Ready", "False", huge)}},
		"SecretStore":        {"conditions": []any{cond("Ready", "False", huge)}},
		"ClusterSecretStore": {"conditions": []any{cond("Ready", "False", huge)}},
		"Certificate":        {"conditions": []any{cond("Ready", "False", huge), cond("Issuing", "False", huge)}},
	}
	for _, k := range deliveryKinds {
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": k.apiVersion, "kind": k.kind,
			"metadata": map[string]any{"name": "x", "generation": int64(1)},
			"status":   failing[k.kind],
		}}
		got := checkedOf(t, o)
		if got.Status != health.Degraded || !strings.Contains(got.Message, "no key could decrypt secret no key") || !strings.HasSuffix(got.Message, "…") {
			t.Errorf("%s: %s %.80q…, want Degraded with the message's start, cut", k.kind, got.Status, got.Message)
		}
	}
}

func cond(typ, status, message string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": "Failed", "message": message}
}

// checkedOf is health.Of, failing the test on a panic or on a message that is
// too long, not valid UTF-8 or not one line.
func checkedOf(t testing.TB, o *unstructured.Unstructured) (r health.Result) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s: panic: %v", describe(o), p)
		}
	}()
	r = health.Of(o)
	switch {
	case utf8.RuneCountInString(r.Message) > maxMessage:
		t.Errorf("%s: message of %d characters", describe(o), utf8.RuneCountInString(r.Message))
	case !utf8.ValidString(r.Message) || strings.ContainsAny(r.Message, "\n\r\t"):
		t.Errorf("%s: message not one line of UTF-8: %.80q", describe(o), r.Message)
	case r.Status != health.Healthy && r.Message == "":
		t.Errorf("%s: %s without a message saying why", describe(o), r.Status)
	}
	return r
}

func describe(o *unstructured.Unstructured) string {
	js, _ := json.Marshal(o.Object)
	return fmt.Sprintf("%s %.200s", o.GetKind(), js)
}

// FuzzDelivery throws arbitrary JSON, seeded with the fixtures, at every
// delivery rule (go test -fuzz=FuzzDelivery ./internal/health/ to explore).
func FuzzDelivery(f *testing.F) {
	for _, fx := range deliveryFixtures(f) {
		f.Add(fx.json)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Plain JSON decoding (numbers as float64), so the rules also meet
		// numbers as a client other than the API machinery decodes them.
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			return
		}
		u := &unstructured.Unstructured{Object: obj}
		for _, k := range deliveryKinds {
			o := u.DeepCopy()
			o.SetAPIVersion(k.apiVersion)
			o.SetKind(k.kind)
			checkedOf(t, o)
		}
	})
}
