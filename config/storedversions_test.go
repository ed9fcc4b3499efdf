package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/config"
)

// installCRDs are the install's CustomResourceDefinitions by name.
func installCRDs(t *testing.T) (objs []*unstructured.Unstructured, byName map[string]*unstructured.Unstructured) {
	t.Helper()
	objs, err := config.Install(config.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName = map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			byName[o.GetName()] = o
		}
	}
	return objs, byName
}

// liveCRD is crd as the cluster would hold it with these stored versions.
func liveCRD(t *testing.T, crd *unstructured.Unstructured, stored ...string) *unstructured.Unstructured {
	t.Helper()
	live := crd.DeepCopy()
	if err := unstructured.SetNestedStringSlice(live.Object, stored, "status", "storedVersions"); err != nil {
		t.Fatal(err)
	}
	return live
}

// withVersion adds a copy of crd's first version named name (served as
// said, not the storage version) to the install's CRD.
func withVersion(t *testing.T, crd *unstructured.Unstructured, name string, served bool) *unstructured.Unstructured {
	t.Helper()
	out := crd.DeepCopy()
	versions, _, _ := unstructured.NestedSlice(out.Object, "spec", "versions")
	v := unstructured.Unstructured{Object: versions[0].(map[string]any)}
	extra := v.DeepCopy().Object
	extra["name"], extra["served"], extra["storage"] = name, served, false
	if err := unstructured.SetNestedSlice(out.Object, append([]any{extra}, versions...), "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	return out
}

// An install goes ahead only if every version the live CRDs store objects
// at stays served; otherwise it is refused naming the CRD, the versions
// and what to do.
func TestCheckStoredVersions(t *testing.T) {
	objs, crds := installCRDs(t)
	apps, projects := crds["applications.lockstep.dev"], crds["projects.lockstep.dev"]
	replaced := func(crd *unstructured.Unstructured) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetName() == crd.GetName() && o.GetKind() == crd.GetKind() {
				o = crd
			}
			out = append(out, o)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		live    []*unstructured.Unstructured
		install []*unstructured.Unstructured
		refused map[string][]string // CRD → its unserved stored versions
	}{
		{name: "a first install: no CRD in the cluster", install: objs},
		{name: "the same versions", live: []*unstructured.Unstructured{liveCRD(t, apps, "v1alpha1"), liveCRD(t, projects, "v1alpha1")}, install: objs},
		{
			name:    "a CRD the install does not hold is not its business",
			live:    []*unstructured.Unstructured{liveCRD(t, withVersion(t, apps, "v1alpha0", true), "v1alpha0")},
			install: objs[:0],
		},
		{
			name:    "a stored version the install drops",
			live:    []*unstructured.Unstructured{liveCRD(t, withVersion(t, apps, "v1alpha0", true), "v1alpha0", "v1alpha1"), liveCRD(t, projects, "v1alpha1")},
			install: objs,
			refused: map[string][]string{"applications.lockstep.dev": {"v1alpha0"}},
		},
		{
			name:    "a stored version the install keeps but no longer serves",
			live:    []*unstructured.Unstructured{liveCRD(t, withVersion(t, apps, "v1alpha0", true), "v1alpha1", "v1alpha0")},
			install: replaced(withVersion(t, apps, "v1alpha0", false)),
			refused: map[string][]string{"applications.lockstep.dev": {"v1alpha0"}},
		},
		{
			name:    "a stored version the install still serves",
			live:    []*unstructured.Unstructured{liveCRD(t, withVersion(t, apps, "v1alpha0", true), "v1alpha0", "v1alpha1")},
			install: replaced(withVersion(t, apps, "v1alpha0", true)),
		},
		{
			name: "two CRDs, each named",
			live: []*unstructured.Unstructured{
				liveCRD(t, withVersion(t, apps, "v1alpha0", true), "v1alpha0"),
				liveCRD(t, withVersion(t, projects, "v1beta0", true), "v1alpha1", "v1beta0"),
			},
			install: objs,
			refused: map[string][]string{"applications.lockstep.dev": {"v1alpha0"}, "projects.lockstep.dev": {"v1beta0"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := config.CheckStoredVersions(tc.live, tc.install)
			got := map[string][]string{}
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var sv *config.StoredVersionsError
					if !errors.As(e, &sv) {
						t.Fatalf("not a StoredVersionsError: %v", e)
					}
					got[sv.CRD] = sv.Unserved
				}
			}
			if tc.refused == nil {
				tc.refused = map[string][]string{}
			}
			if diff := cmp.Diff(tc.refused, got); diff != "" {
				t.Errorf("refused (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

// The error says which CRD, which versions are stored, and how to migrate.
func TestStoredVersionsErrorSaysWhatToDo(t *testing.T) {
	objs, crds := installCRDs(t)
	live := liveCRD(t, withVersion(t, crds["applications.lockstep.dev"], "v1alpha0", true), "v1alpha1", "v1alpha0")
	err := config.CheckStoredVersions([]*unstructured.Unstructured{live}, objs)
	if err == nil {
		t.Fatal("not refused")
	}
	for _, want := range []string{
		"CustomResourceDefinition applications.lockstep.dev: objects may be stored at v1alpha0 (status.storedVersions: v1alpha1, v1alpha0)",
		"no longer serves (it serves v1alpha1)",
		"storage version set to v1alpha1, read every one of them and write it back",
		"kubectl get applications -A -o json | kubectl replace -f -",
		`kubectl patch crd applications.lockstep.dev --subresource=status --type=merge -p '{"status":{"storedVersions":["v1alpha1"]}}'`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}
