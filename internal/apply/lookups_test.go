package apply_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// countGets counts the GETs of single ConfigMaps and the lists of them.
type countGets struct {
	rt          http.RoundTripper
	gets, lists atomic.Int32
}

func (c *countGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/configmaps") {
		if strings.HasSuffix(r.URL.Path, "/configmaps") {
			c.lists.Add(1)
		} else {
			c.gets.Add(1)
		}
	}
	return c.rt.RoundTrip(r)
}

// Many new objects of one kind in one namespace are looked up with one list
// of names, not a GET each; the objects someone made by hand are still
// found, so that applying over them is an adoption, not a create.
func TestManyNewObjectsAreLookedUpWithOneList(t *testing.T) {
	ctx := testenv.Context(t)
	ns := testenv.Namespace(t)
	cfg := rest.CopyConfig(testenv.Config(t))
	counter := &countGets{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter })
	clients, err := kube.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	applier := apply.New(clients, apply.WithLiveCache(kube.NewCache(clients.Dynamic, nil)))

	cs := kubernetes.NewForConfigOrDie(testenv.Config(t))
	byHand := []string{"cm-010", "cm-050", "cm-149"}
	for _, name := range byHand {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"LEVEL": "by hand"}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var desired []*unstructured.Unstructured
	for i := range 150 {
		desired = append(desired, objects(t, configMap(fmt.Sprintf("cm-%03d", i), "info"))...)
	}
	if err := applier.Normalize(desired, ns); err != nil {
		t.Fatal(err)
	}
	counter.gets.Store(0)
	obs, err := applier.Observe(ctx, desired, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, o := range desired {
		live, seen := obs.Current[object.KeyOf(o)]
		if !seen {
			t.Errorf("%s not observed", o.GetName())
		}
		if live != nil {
			found++
		}
	}
	if found != len(byHand) {
		t.Errorf("found %d of the %d ConfigMaps made by hand", found, len(byHand))
	}
	if g, l := counter.gets.Load(), counter.lists.Load(); g > int32(len(byHand)) || l == 0 {
		t.Errorf("%d GETs and %d lists of ConfigMaps; want at most %d GETs (those that exist) and a list", g, l, len(byHand))
	}
}
