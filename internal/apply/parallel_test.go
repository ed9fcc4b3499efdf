package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// keys lists the keys of steps, for comparing orders.
func keys(steps []plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Key.String())
	}
	return out
}

// stepsDoing returns the plan's steps with one of the actions, in plan order.
func stepsDoing(p plan.Plan, actions ...plan.Action) []plan.Step {
	var out []plan.Step
	for _, s := range p.Steps {
		for _, a := range actions {
			if s.Action == a {
				out = append(out, s)
			}
		}
	}
	return out
}

func names(t *testing.T, c dynamic.ResourceInterface) map[string]bool {
	t.Helper()
	list, err := c.List(testenv.Context(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range list.Items {
		out[o.GetName()] = true
	}
	return out
}

// A Namespace, a CRD, its custom resources and many ConfigMaps in the new
// namespace, all in one wave: applied rank by rank, each rank at once, and
// reported in plan order.
func TestOneWaveOfManyKindsIsAppliedRankByRank(t *testing.T) {
	ns := testenv.Namespace(t)
	apps := ns + "-apps" // created by the sync itself
	group := strings.ReplaceAll(ns, "-", "") + ".example.com"
	dyn := dynamic.NewForConfigOrDie(testenv.Config(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		_ = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Delete(ctx, apps, metav1.DeleteOptions{})
		_ = dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Delete(ctx, "gadgets."+group, metav1.DeleteOptions{})
	})
	docs := []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + apps + "}\n",
		`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.` + group + `}
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`,
	}
	const gadgets, configMaps = 20, 200
	for i := range gadgets {
		docs = append(docs, fmt.Sprintf("apiVersion: %s/v1\nkind: Gadget\nmetadata: {name: g-%03d, namespace: %s}\nspec: {size: %d}\n", group, i, apps, i))
	}
	for i := range configMaps {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d, namespace: %s}\ndata: {N: \"%d\"}\n", i, apps, i))
	}
	s := newSyncer(t, testenv.Config(t), ns)
	p, cs, err := s.sync(objects(t, docs...))
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if diff := cmp.Diff(keys(stepsDoing(p, plan.Create, plan.Update)), keys(cs.Applied)); diff != "" {
		t.Errorf("applied steps not in plan order (-plan +applied):\n%s", diff)
	}
	if len(cs.Applied) != 2+gadgets+configMaps || len(cs.Live) != len(cs.Applied) || len(cs.Failed) != 0 {
		t.Errorf("applied %d, live %d, failed %v; want %d applied", len(cs.Applied), len(cs.Live), cs.Failed, 2+gadgets+configMaps)
	}
	gotCMs := names(t, dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(apps))
	for i := range configMaps {
		if name := fmt.Sprintf("cm-%03d", i); !gotCMs[name] {
			t.Errorf("ConfigMap/%s/%s was not created", apps, name)
		}
	}
	if got := names(t, dyn.Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gadgets"}).Namespace(apps)); len(got) != gadgets {
		t.Errorf("%d Gadgets created, want %d", len(got), gadgets)
	}

	// Observed again, all at once: nothing changed, nothing to write.
	p, cs, err = s.sync(objects(t, docs...))
	if err != nil {
		t.Fatal(err)
	}
	if !p.InSync() || len(cs.Applied) != 0 {
		t.Errorf("second sync of the same state is not a no-op:\n%s", p)
	}
}

// One object in the middle of a run is refused: it is reported, the rest of the
// run is applied, and nothing is pruned. Once it is fixed, the prunes run, in
// plan order.
func TestAFailureInARunIsReportedAndCancelsPrunes(t *testing.T) {
	ns := testenv.Namespace(t)
	s := newSyncer(t, testenv.Config(t), ns)
	cms := dynamic.NewForConfigOrDie(testenv.Config(t)).Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
	var old []string
	for i := range 20 {
		old = append(old, configMap(fmt.Sprintf("old-%02d", i), "x"))
	}
	if _, _, err := s.sync(objects(t, old...)); err != nil {
		t.Fatal(err)
	}

	const n, bad = 40, 20
	desired := func(broken bool) []*unstructured.Unstructured {
		var docs []string
		for i := range n {
			doc := configMap(fmt.Sprintf("m-%02d", i), "1")
			if i == bad && broken { // the server refuses a data key with a space
				doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m-20}\ndata: {\"not a key\": x}\n"
			}
			docs = append(docs, doc)
		}
		return objects(t, docs...)
	}
	_, cs, err := s.sync(desired(true))
	badKey := "ConfigMap/" + ns + "/m-20"
	var oe *apply.ObjectError
	if !errors.As(err, &oe) || oe.Key.String() != badKey || len(cs.Failed) != 1 {
		t.Fatalf("err = %v, want one ObjectError naming %s", err, badKey)
	}
	if len(cs.Applied) != n-1 || !cs.PruneSkipped || len(cs.Pruned) != 0 {
		t.Errorf("applied %d (want %d), prune skipped %t, pruned %d", len(cs.Applied), n-1, cs.PruneSkipped, len(cs.Pruned))
	}
	got := names(t, cms)
	for i := range n {
		if name := fmt.Sprintf("m-%02d", i); got[name] == (i == bad) {
			t.Errorf("ConfigMap %s exists: %t", name, got[name])
		}
	}
	for i := range 20 {
		if name := fmt.Sprintf("old-%02d", i); !got[name] {
			t.Errorf("ConfigMap %s was pruned after a failed apply", name)
		}
	}

	p, cs, err := s.sync(desired(false))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys(stepsDoing(p, plan.Prune)), keys(cs.Pruned)); diff != "" || len(cs.Pruned) != 20 {
		t.Errorf("pruned steps not in plan order (-plan +pruned):\n%s", diff)
	}
	for i := range 20 {
		name := fmt.Sprintf("old-%02d", i)
		if _, err := cms.Get(testenv.Context(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s after prune: err = %v, want NotFound", name, err)
		}
	}
}
