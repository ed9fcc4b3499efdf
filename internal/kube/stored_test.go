package kube

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"
)

// liveDeployment returns testdata/deployment-live.yaml decoded as the dynamic
// client decodes a watch event (integers as int64), then trimmed as the
// informer trims it.
func liveDeployment(tb testing.TB) *unstructured.Unstructured {
	tb.Helper()
	y, err := os.ReadFile("testdata/deployment-live.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		tb.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		tb.Fatal(err)
	}
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "example.dev/v1", Kind: "Shop", Name: "storefront", UID: "0b1c"}})
	if _, err := trim(u); err != nil {
		tb.Fatal(err)
	}
	return u
}

func compactDeployment(tb testing.TB) *stored {
	tb.Helper()
	out, err := compact(trim)(liveDeployment(tb))
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := out.(*stored)
	if !ok {
		tb.Fatalf("compact returned a %T", out)
	}
	return s
}

func TestStoredRoundTrip(t *testing.T) {
	want := liveDeployment(t)
	s := compactDeployment(t)
	got, err := s.decode()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Object, got.Object); diff != "" {
		t.Errorf("decoded object (-want +got):\n%s", diff)
	}
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 3 {
		t.Errorf("spec.replicas = %d, want the int64 3", n)
	}

	// Each decode is the caller's own.
	got.SetName("changed")
	unstructured.RemoveNestedField(got.Object, "spec")
	again, err := s.decode()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Object, again.Object); diff != "" {
		t.Errorf("a change to one decoded copy reached the cache (-want +got):\n%s", diff)
	}
}

func TestStoredMeta(t *testing.T) {
	s := compactDeployment(t)
	m, err := meta.Accessor(s)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{m.GetName(), m.GetNamespace(), string(m.GetUID()), m.GetResourceVersion(),
		s.GetObjectKind().GroupVersionKind().String()}
	want := []string{"payments", "prod", "5f0c6a2e-8b1d-4c3e-9a7f-2d4b6e8f0a1c", "48213577", "apps/v1, Kind=Deployment"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if key, err := cache.MetaNamespaceKeyFunc(s); err != nil || key != "prod/payments" {
		t.Errorf("store key = %q, %v; want prod/payments", key, err)
	}
	if keys, err := cache.MetaNamespaceIndexFunc(s); err != nil || len(keys) != 1 || keys[0] != "prod" {
		t.Errorf("namespace index = %v, %v; want [prod]", keys, err)
	}
	fromStored, _ := byOwner(s)
	fromObject, _ := byOwner(liveDeployment(t))
	if diff := cmp.Diff([]string{"example.dev/Shop/prod/storefront"}, fromStored); diff != "" {
		t.Errorf("owner index (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fromObject, fromStored); diff != "" {
		t.Errorf("owner index of the stored and the decoded object differ (-decoded +stored):\n%s", diff)
	}
}

func TestStoredDeepCopyObject(t *testing.T) {
	s := compactDeployment(t)
	c, ok := s.DeepCopyObject().(*stored)
	if !ok {
		t.Fatalf("DeepCopyObject returned a %T", s.DeepCopyObject())
	}
	if diff := cmp.Diff(s, c, cmp.AllowUnexported(stored{})); diff != "" {
		t.Errorf("copy (-original +copy):\n%s", diff)
	}
	if &c.raw[0] != &s.raw[0] {
		t.Error("the copy does not share the JSON")
	}
	c.SetResourceVersion("1")
	c.OwnerReferences[0].Name = "changed"
	if s.GetResourceVersion() != "48213577" || s.OwnerReferences[0].Name != "storefront" {
		t.Errorf("changing the copy's metadata changed the original: %+v", s.ObjectMeta)
	}
}

func TestCompactPassesThrough(t *testing.T) {
	s := compactDeployment(t)
	calls := 0
	counting := func(o any) (any, error) { calls++; return trim(o) }
	if out, err := compact(counting)(s); err != nil || out != any(s) || calls != 0 {
		t.Errorf("compact of a stored = %p, %v after %d calls; want the same object untransformed", out, err, calls)
	}
	if out, _ := compact(trim)("not an object"); out != "not an object" {
		t.Errorf("compact changed something that is not an object: %v", out)
	}
}

func TestDecodedEventObjects(t *testing.T) {
	s := compactDeployment(t)
	for _, tc := range []struct {
		name string
		in   any
		ok   bool
	}{
		{"stored", s, true},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "prod/payments", Obj: s}, true},
		{"empty tombstone", cache.DeletedFinalStateUnknown{Key: "prod/payments"}, false},
		{"undecodable", &stored{raw: []byte("{")}, false},
		{"something else", "prod/payments", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := decoded(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (u.GetName() != "payments" || u.GetUID() != types.UID("5f0c6a2e-8b1d-4c3e-9a7f-2d4b6e8f0a1c")) {
				t.Errorf("decoded %s/%s", u.GetNamespace(), u.GetName())
			}
		})
	}
	// A tombstone's key is the stored object's key.
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(cache.DeletedFinalStateUnknown{Key: "prod/payments", Obj: s})
	if err != nil || key != "prod/payments" {
		t.Errorf("tombstone key = %q, %v", key, err)
	}
}

// BenchmarkStoredDeployment reports the heap one trimmed Deployment
// (testdata/deployment-live.yaml) holds in an informer, decoded as before
// (Held: unstructured-bytes/obj) and as a stored (stored-bytes/obj), and
// times what each watch event now adds (Store: encoding) and a Get now (Get:
// decoding) and before (DeepCopy).
func BenchmarkStoredDeployment(b *testing.B) {
	const n = 1000
	template := liveDeployment(b)
	j, err := template.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	held := func(build func(i int) any) float64 {
		objs := make([]any, n)
		before := liveHeap()
		for i := range objs {
			objs[i] = build(i)
		}
		after := liveHeap()
		runtime.KeepAlive(objs)
		return float64(after-before) / n
	}
	decodeOne := func(i int) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			b.Fatal(err)
		}
		u.SetName(fmt.Sprintf("payments-%d", i))
		return u
	}
	unstructuredBytes := held(func(i int) any { return decodeOne(i) })
	storedBytes := held(func(i int) any {
		s, err := store(decodeOne(i))
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
	s, err := store(template)
	if err != nil {
		b.Fatal(err)
	}
	// A benchmark with sub-benchmarks reports only theirs.
	b.Run("Held", func(b *testing.B) {
		for range b.N {
		}
		b.ReportMetric(unstructuredBytes, "unstructured-bytes/obj")
		b.ReportMetric(storedBytes, "stored-bytes/obj")
		b.ReportMetric(float64(len(s.raw)), "json-bytes/obj")
	})
	b.Run("Store", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := store(template); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := s.decode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DeepCopy", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = template.DeepCopy()
		}
	})
}

// liveHeap is the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
