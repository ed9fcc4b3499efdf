package pass

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret(data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}, "data": data,
	}}
}

// A Secret's values never reach the diff: unchanged keys read ***, changed ones
// say so, and the caller's objects are left alone.
func TestMaskSecretsHidesEveryValue(t *testing.T) {
	before := secret(map[string]any{"same": "c2VjcmV0MQ==", "changed": "b2xkLXZhbHVl", "gone": "Z29uZQ=="})
	after := secret(map[string]any{"same": "c2VjcmV0MQ==", "changed": "bmV3LXZhbHVl", "added": "YWRkZWQ="})
	mb, ma := MaskSecrets(before, after)
	a, _ := asYAML(mb)
	b, _ := asYAML(ma)
	for _, secretValue := range []string{"c2VjcmV0MQ==", "b2xkLXZhbHVl", "bmV3LXZhbHVl", "Z29uZQ==", "YWRkZWQ="} {
		if strings.Contains(a+b, secretValue) {
			t.Errorf("masked output contains %q:\n%s\n%s", secretValue, a, b)
		}
	}
	for _, want := range []string{"same: '***'", "changed: '*** (before)'", "gone: '*** (before)'"} {
		if !strings.Contains(a, want) {
			t.Errorf("before lacks %q:\n%s", want, a)
		}
	}
	if !strings.Contains(b, "changed: '*** (after)'") || !strings.Contains(b, "added: '*** (after)'") {
		t.Errorf("after:\n%s", b)
	}
	if v, _, _ := unstructured.NestedString(before.Object, "data", "same"); v != "c2VjcmV0MQ==" {
		t.Error("maskSecrets changed the caller's object")
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "v"}}}
	if got, _ := MaskSecrets(cm, nil); got != cm {
		t.Error("a ConfigMap was masked")
	}
}

// kubectl's last-applied annotation holds the whole Secret: it is masked too.
func TestMaskSecretsHidesTheLastAppliedCopy(t *testing.T) {
	s := secret(map[string]any{"password": "UExBTlRFRA=="})
	s.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"UExBTlRFRA=="}}`})
	masked, _ := MaskSecrets(s, s)
	text, _ := asYAML(masked)
	if strings.Contains(text, "UExBTlRFRA") {
		t.Errorf("masked Secret shows its value:\n%s", text)
	}
	if s.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"] == "***" {
		t.Error("the caller's object was changed")
	}
}

// A diff has no line that neither side has: nothing before a create, and no
// empty line after the last.
func TestYAMLLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a: 1\n", []string{"a: 1\n"}},
		{"a: 1\nb: 2\n", []string{"a: 1\n", "b: 2\n"}},
		{"a: 1", []string{"a: 1"}},
	} {
		if got := yamlLines(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("yamlLines(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
