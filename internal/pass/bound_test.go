package pass_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// largePass is the first sync of an Application of n ConfigMaps: all
// created, and healthy but for the ones unhealthy names.
func largePass(t *testing.T, n int, unhealthy ...int) *pass.Pass {
	p := syncPass(t)
	p.Plan, p.Changes = plan.Plan{}, apply.ChangeSet{}
	p.Health = map[object.Key]health.Result{}
	for i := range n {
		k := object.Key{Kind: "ConfigMap", Namespace: "prod", Name: fmt.Sprintf("config-%05d", i)}
		step := plan.Step{Action: plan.Create, Key: k, Version: "v1", Desired: &unstructured.Unstructured{}}
		p.Plan.Steps = append(p.Plan.Steps, step)
		p.Changes.Applied = append(p.Changes.Applied, step)
		p.Health[k] = health.Result{Status: health.Healthy}
	}
	for _, i := range unhealthy {
		p.Health[p.Plan.Steps[i].Key] = health.Result{Status: health.Degraded, Message: "broken"}
	}
	return p
}

// An Application of 10,000 objects has a status the API server takes
// (etcd refuses objects over 1.5 MiB; listing each object twice made 2.5 MB),
// that still names every object for pruning and lists what needs a look.
func TestTheStatusOfALargeApplicationStaysSmall(t *testing.T) {
	const n = 10000
	p := largePass(t, n, 7, 9998)
	next := pass.Status(p)
	data, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 400<<10 {
		t.Errorf("the status of %d objects is %d KiB, want at most 400", n, len(data)>>10)
	}
	if refs := next.ManagedRefs(); len(refs) != n {
		t.Errorf("managed lists %d objects, want %d", len(refs), n)
	}
	if len(next.Resources) != v1.MaxResources || int(next.ResourcesOmitted) != n-v1.MaxResources {
		t.Fatalf("resources lists %d, omits %d; want %d and %d", len(next.Resources), next.ResourcesOmitted, v1.MaxResources, n-v1.MaxResources)
	}
	// The degraded objects come first in interest, and the list keeps plan order.
	if r := next.Resources; r[0].Name != "config-00000" || !hasEntry(r, "config-00007", "Degraded") || !hasEntry(r, "config-09998", "Degraded") {
		t.Errorf("resources do not keep the degraded objects in plan order: first %s", r[0].Name)
	}

	// The next pass changes nothing: its entries say so, still with the
	// degraded objects, and the pass after writes the same status.
	app := p.Application.DeepCopy()
	app.Status = next
	p2 := largePass(t, n, 7, 9998)
	p2.Application, p2.Commit, p2.Digest = app, p.Commit, p.Digest
	for i := range p2.Plan.Steps {
		p2.Plan.Steps[i].Action = plan.Unchanged
	}
	p2.Changes = apply.ChangeSet{}
	second := pass.Status(p2)
	if r := second.Resources; len(r) != v1.MaxResources || r[0].Action != v1.ActionUnchanged || !hasEntry(r, "config-09998", "Degraded") {
		t.Errorf("a pass that changed nothing lists %d, first %+v", len(r), r[0])
	}
	app.Status = second
	p2.Application = app
	if third := pass.Status(p2); !equalJSON(t, third, second) {
		t.Error("a third pass that changed nothing rewrote the status")
	}
}

func TestFewObjectsAreAllListed(t *testing.T) {
	next := pass.Status(largePass(t, v1.MaxResources))
	if len(next.Resources) != v1.MaxResources || next.ResourcesOmitted != 0 {
		t.Errorf("%d objects: listed %d, omitted %d", v1.MaxResources, len(next.Resources), next.ResourcesOmitted)
	}
}

func TestManyChangedFieldsAreCounted(t *testing.T) {
	p := syncPass(t)
	var fields []string
	for i := range 300 {
		fields = append(fields, fmt.Sprintf("spec.versions[%d].schema", i))
	}
	p.Plan.Steps[0].ChangedFields = fields
	next := pass.Status(p)
	got := next.Resources[0].ChangedFields
	if len(got) != 16 || got[15] != "(and 285 more)" || len(p.Plan.Steps[0].ChangedFields) != 300 {
		t.Errorf("changed fields %d, last %q; the plan's own list has %d", len(got), got[len(got)-1], len(p.Plan.Steps[0].ChangedFields))
	}
}

func hasEntry(r []v1.ResourceStatus, name, health string) bool {
	for _, e := range r {
		if e.Name == name {
			return e.Health == health
		}
	}
	return false
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// Entries of long field paths (annotation keys of 300 characters on 1,000
// objects) are cut, and entries dropped, until the list fits its budget in
// bytes; what needs a look stays.
func TestLongChangedFieldsKeepTheStatusSmall(t *testing.T) {
	p := largePass(t, v1.MaxResources, 3)
	for i := range p.Plan.Steps {
		p.Plan.Steps[i].Action = plan.Update
		for j := range 20 {
			p.Plan.Steps[i].ChangedFields = append(p.Plan.Steps[i].ChangedFields,
				fmt.Sprintf("metadata.annotations.%02d-%s", j, strings.Repeat("k", 300)))
		}
	}
	next := pass.Status(p)
	data, err := json.Marshal(next.Resources)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 300<<10 {
		t.Errorf("status.resources is %d KiB", len(data)>>10)
	}
	if int(next.ResourcesOmitted)+len(next.Resources) != v1.MaxResources || next.ResourcesOmitted == 0 {
		t.Errorf("listed %d, omitted %d", len(next.Resources), next.ResourcesOmitted)
	}
	if !hasEntry(next.Resources, "config-00003", "Degraded") {
		t.Error("the degraded object was dropped")
	}
	for _, f := range next.Resources[0].ChangedFields {
		if len(f) > 256 {
			t.Errorf("a path of %d bytes", len(f))
		}
	}
}

// Field paths that JSON escapes (a free-form map's keys full of <) are
// counted as stored, six bytes a character, so the bound still holds.
func TestEscapedFieldsAreCountedAsStored(t *testing.T) {
	p := largePass(t, 200)
	for i := range p.Plan.Steps {
		p.Plan.Steps[i].Action = plan.Update
		for j := range 16 {
			p.Plan.Steps[i].ChangedFields = append(p.Plan.Steps[i].ChangedFields, fmt.Sprintf("spec.m.%02d%s", j, strings.Repeat("<", 300)))
		}
	}
	next := pass.Status(p)
	data, err := json.Marshal(next.Resources)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 260<<10 || next.ResourcesOmitted == 0 {
		t.Errorf("status.resources is %d KiB as JSON, %d omitted", len(data)>>10, next.ResourcesOmitted)
	}
}

// A commit's subject, authors and trailers are the author's to write, at any
// length: the status keeps a bounded part, so that it can still be written.
func TestAHugeCommitMessageKeepsTheStatusSmall(t *testing.T) {
	p := syncPass(t)
	huge := *p.Commit
	huge.Subject, huge.Author = strings.Repeat("s", 1<<20), strings.Repeat("a", 1<<16)
	huge.Trailers = nil
	for i := range 1000 {
		huge.Trailers = append(huge.Trailers, source.Trailer{Key: fmt.Sprintf("Approved-by-%d", i), Value: strings.Repeat("v", 1000)})
	}
	p.Commit = &huge
	next := pass.Status(p)
	data, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 64<<10 {
		t.Errorf("the status of one commit with a long message is %d KiB", len(data)>>10)
	}
	if next.LastAppliedRevision.Commit != huge.Hash || len(next.LastAppliedRevision.Trailers) != 32 {
		t.Errorf("applied %s with %d trailers", next.LastAppliedRevision.Commit, len(next.LastAppliedRevision.Trailers))
	}
}
