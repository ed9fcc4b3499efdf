package release

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := m[name]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
}

// Kustomize images are copied by name (a field the source does not set is
// removed, an entry the target lacks added, the target's others kept) and
// values by path; the target's comments and list indentation stay.
func TestCopyValues(t *testing.T) {
	source := fstest.MapFS{
		"kustomization.yaml": {Data: []byte("resources: [../../base]\nimages:\n- name: web\n  newName: registry.internal/web\n  digest: sha256:2222\n- name: worker\n  newTag: \"2.0\"\n")},
		"values.yaml":        {Data: []byte("image:\n  tag: 1.4.2 # set by CI\nchart:\n  deps:\n  - version: 3.1.0\n")},
	}
	target := files(map[string]string{
		"kustomization.yaml": "# prod\nresources:\n  - ../../base\nimages:\n  - name: web # the shop\n    newName: registry.internal/web\n    newTag: \"1.0\"\n  - name: sidecar\n    newTag: \"9\"\n",
		"values.yaml":        "# prod values\nimage:\n  tag: 1.3.0 # set by CI\nreplicas: 5\n",
		"Chart.yaml":         "name: shop\ndependencies:\n- name: db\n  version: 3.0.0\n",
	})
	out, copied, err := CopyValues(source, target, v1.PromotionCopy{KustomizeImages: true, Values: []v1.PromotedValue{
		{File: "values.yaml", Path: "image.tag"},
		{File: "values.yaml", Path: "chart.deps[0].version", TargetFile: "Chart.yaml", TargetPath: "dependencies[0].version"},
		{File: "values.yaml", Path: "image.tag", TargetPath: "canary.image.tag"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Copied{
		{File: "kustomization.yaml", Path: "images[web].newTag", From: "1.0"},
		{File: "kustomization.yaml", Path: "images[web].digest", To: "sha256:2222"},
		{File: "kustomization.yaml", Path: "images[worker].newTag", To: "2.0"},
		{File: "values.yaml", Path: "image.tag", From: "1.3.0", To: "1.4.2"},
		{File: "Chart.yaml", Path: "dependencies[0].version", From: "3.0.0", To: "3.1.0"},
		{File: "values.yaml", Path: "canary.image.tag", To: "1.4.2"},
	}
	if diff := cmp.Diff(want, copied); diff != "" {
		t.Errorf("copied (-want +got):\n%s", diff)
	}
	kust := string(out["kustomization.yaml"])
	for _, w := range []string{"# prod\n", "  - name: web # the shop\n", "    digest: sha256:2222\n", "  - name: sidecar\n    newTag: \"9\"\n", "  - name: worker\n    newTag: \"2.0\"\n"} {
		if !strings.Contains(kust, w) {
			t.Errorf("kustomization.yaml lacks %q:\n%s", w, kust)
		}
	}
	if strings.Contains(kust, `"1.0"`) {
		t.Errorf("web keeps the tag the source does not set:\n%s", kust)
	}
	values := string(out["values.yaml"])
	for _, w := range []string{"# prod values\n", "  tag: 1.4.2 # set by CI\n", "replicas: 5\n", "canary:\n  image:\n    tag: 1.4.2\n"} {
		if !strings.Contains(values, w) {
			t.Errorf("values.yaml lacks %q:\n%s", w, values)
		}
	}

	// Promoting again changes nothing.
	again := files(map[string]string{"kustomization.yaml": kust, "values.yaml": values, "Chart.yaml": string(out["Chart.yaml"])})
	out2, copied2, err := CopyValues(source, again, v1.PromotionCopy{KustomizeImages: true, Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.tag"}}})
	if err != nil || len(copied2) != 0 || len(out2) != 0 {
		t.Errorf("a second promotion: %v, %+v", err, copied2)
	}
}

func TestCopyValuesRefuses(t *testing.T) {
	source := fstest.MapFS{"values.yaml": {Data: []byte("image: {tag: 1}\nlist: [a]\nbase: &b {x: 1}\nref: *b\n")}, "big.yaml": {Data: []byte("x: " + strings.Repeat("a", 2<<20))},
		"secret.yaml": {Data: []byte("password: ENC[AES256_GCM,data:abc]\nsops: {version: 3.8.1}\n")}}
	target := files(map[string]string{"values.yaml": "image: {tag: 0}\nscalar: 3\n", "kustomization.yaml": "resources: []\n",
		"multi.yaml": "image: {tag: 0}\n---\nkind: ConfigMap\n"})
	for _, tt := range []struct {
		name string
		copy v1.PromotionCopy
		want string
	}{
		{"nothing", v1.PromotionCopy{}, "names nothing to copy"},
		{"escape", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "../prod/values.yaml", Path: "a"}}}, "inside the Application's folder"},
		{"absolute", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "/etc/passwd", Path: "a"}}}, "inside the Application's folder"},
		{"missing value", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.digest"}}}, "the source's values.yaml has no image.digest"},
		{"missing file", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "other.yaml", Path: "a"}}}, "the source's other.yaml"},
		{"into a scalar", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.tag", TargetPath: "scalar.tag"}}}, "scalar is not a map"},
		{"bad index", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "list[3]"}}}, "has no list[3]"},
		{"bad path", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "a..b"}}}, "want keys joined by dots"},
		{"huge", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "big.yaml", Path: "x"}}}, "at most 1 MiB"},
		{"no images", v1.PromotionCopy{KustomizeImages: true}, "the source's folder: no kustomization.yaml"},
		{"an alias", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "ref"}}}, "holds a YAML alias or anchor"},
		{"an anchor", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "base"}}}, "holds a YAML alias or anchor"},
		{"encrypted", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "secret.yaml", Path: "password"}}}, "SOPS-encrypted"},
		{"several documents", v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.tag", TargetFile: "multi.yaml"}}}, "holds 2 YAML documents"},
	} {
		_, _, err := CopyValues(source, target, tt.copy)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := CopyValues(source, func(string) ([]byte, error) { return nil, errors.New("boom") }, v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.tag"}}}); err == nil || !strings.Contains(err.Error(), "the target's values.yaml: boom") {
		t.Errorf("a failing target read: %v", err)
	}
}

// An alias bomb costs its size: aliases are never expanded.
func TestCopyValuesDoesNotExpandAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("image: {tag: 2}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	bomb := b.String()
	start := time.Now()
	out, _, err := CopyValues(fstest.MapFS{"values.yaml": {Data: []byte(bomb)}}, files(map[string]string{"values.yaml": bomb}),
		v1.PromotionCopy{Values: []v1.PromotedValue{{File: "values.yaml", Path: "image.tag", TargetPath: "image.other"}}})
	if err != nil || time.Since(start) > 5*time.Second || len(out["values.yaml"]) > 4*len(bomb) {
		t.Errorf("an alias bomb: %v, %s, %d bytes written", err, time.Since(start), len(out["values.yaml"]))
	}
}
