package audit_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// liveDeployment is a Deployment as the API server returns it: Lockstep applied
// it, then someone ran `kubectl edit` on the memory limit.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: prod
  managedFields:
  - manager: lockstep
    operation: Apply
    apiVersion: apps/v1
    time: "2026-11-20T10:00:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:replicas: {}
        f:template:
          f:spec:
            f:containers:
              k:{"name":"api"}:
                .: {}
                f:image: {}
                f:name: {}
                f:resources:
                  f:limits:
                    f:cpu: {}
  - manager: kubectl-edit
    operation: Update
    apiVersion: apps/v1
    time: "2026-11-21T08:30:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:template:
          f:spec:
            f:containers:
              k:{"name":"api"}:
                f:resources:
                  f:limits:
                    f:memory: {}
  - manager: kube-controller-manager
    operation: Update
    subresource: status
    apiVersion: apps/v1
    time: "2026-11-21T08:31:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:status:
        f:replicas: {}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: sidecar
        image: registry.internal/proxy:1
      - name: api
        image: registry.internal/api:2
        resources:
          limits:
            cpu: "1"
            memory: 2Gi
status:
  replicas: 3
`

func mustObject(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func deploymentChange(action audit.Action, fields ...audit.FieldChange) audit.Change {
	return audit.Change{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "prod", Name: "api", Action: action, Fields: fields}
}

func TestBlameNamesTheSyncThatSetEachField(t *testing.T) {
	live := mustObject(t, liveDeployment)
	created := audit.Record{Seq: 1, Event: audit.EventSync, Revision: "aaa", Changes: []audit.Change{deploymentChange(audit.Create)}}
	limit := audit.Record{Seq: 5, Event: audit.EventSync, Revision: "bbb", Commit: &audit.Commit{Subject: "Raise the memory limit", ApprovedBy: []string{"Lead <lead@example.com>"}},
		Changes: []audit.Change{deploymentChange(audit.Update,
			audit.FieldChange{Path: "spec.template.spec.containers[1].resources.limits.memory", From: `"1Gi"`, To: `"1536Mi"`})}}
	other := audit.Record{Seq: 6, Event: audit.EventSync, Revision: "ccc", Changes: []audit.Change{{Kind: "ConfigMap", Namespace: "prod", Name: "api", Action: audit.Update}}}
	drift := audit.Record{Seq: 7, Event: audit.EventDrift, Result: audit.Detected, Changes: []audit.Change{func() audit.Change {
		c := deploymentChange(audit.Update, audit.FieldChange{Path: "spec.template.spec.containers[1].resources.limits.memory", From: `"1536Mi"`, To: `"2Gi"`})
		c.ChangedBy = &audit.Writer{Manager: "kubectl-edit", Time: "2026-11-21T08:30:00Z"}
		return c
	}()}}
	b, err := audit.BlameObject(live, "lockstep", []audit.Record{drift, other, limit, created})
	if err != nil {
		t.Fatal(err)
	}
	if b.Created == nil || b.Created.Seq != 1 {
		t.Fatalf("created by %+v, want record #1", b.Created)
	}
	got := map[string]audit.FieldBlame{}
	for _, f := range b.Fields {
		got[f.Path] = f
	}
	want := []string{
		"spec.replicas", "spec.template.spec.containers[1].image", "spec.template.spec.containers[1].name",
		"spec.template.spec.containers[1].resources.limits.cpu", "spec.template.spec.containers[1].resources.limits.memory",
	}
	if len(got) != len(want) {
		t.Fatalf("blamed fields %v, want %v", keys(got), want)
	}
	for _, p := range want {
		if _, ok := got[p]; !ok {
			t.Fatalf("no blame for %s; have %v", p, keys(got))
		}
	}
	if f := got["spec.replicas"]; f.SetBy == nil || f.SetBy.Seq != 1 || len(f.Flags) != 0 || f.Value != "3" {
		t.Errorf("spec.replicas: %+v", f)
	}
	mem := got["spec.template.spec.containers[1].resources.limits.memory"]
	if mem.SetBy == nil || mem.SetBy.Seq != 5 || mem.Value != `"2Gi"` {
		t.Fatalf("memory limit: %+v", mem)
	}
	flags := strings.Join(mem.Flags, "\n")
	for _, w := range []string{"changed by kubectl-edit at 2026-11-21T08:30:00Z (drift record #7, not reverted)", "owned by kubectl-edit (Update) since 2026-11-21T08:30:00Z"} {
		if !strings.Contains(flags, w) {
			t.Errorf("memory flags %q lack %q", flags, w)
		}
	}
}

func TestBlameFlagsALiveValueThatDiffersFromTheRecord(t *testing.T) {
	live := mustObject(t, liveDeployment)
	// No drift record (the controller was down, say): the recorded value still
	// tells the live one is not Git's.
	limit := audit.Record{Seq: 5, Event: audit.EventSync, Changes: []audit.Change{deploymentChange(audit.Update,
		audit.FieldChange{Path: "spec.template.spec.containers[1].resources.limits.memory", To: `"1536Mi"`})}}
	b, err := audit.BlameObject(live, "lockstep", []audit.Record{limit})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range b.Fields {
		if f.Path == "spec.template.spec.containers[1].resources.limits.memory" {
			if !strings.Contains(strings.Join(f.Flags, " "), `live "2Gi", record #5 set "1536Mi"`) {
				t.Fatalf("flags %q", f.Flags)
			}
			return
		}
	}
	t.Fatal("memory limit not blamed")
}

func TestBlameWithoutRecordsStillNamesOwners(t *testing.T) {
	b, err := audit.BlameObject(mustObject(t, liveDeployment), "lockstep", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Created != nil || len(b.Fields) != 4 {
		t.Fatalf("%+v", b)
	}
	for _, f := range b.Fields {
		if f.SetBy != nil || len(f.Owners) != 1 || f.Owners[0].Manager != "lockstep" {
			t.Errorf("%+v", f)
		}
	}
}

func TestBlameHidesSecretValues(t *testing.T) {
	s := mustObject(t, `
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  managedFields:
  - manager: lockstep
    operation: Apply
    fieldsType: FieldsV1
    fieldsV1: {"f:data": {"f:password": {}}}
data:
  password: aHVudGVyMg==
`)
	b, err := audit.BlameObject(s, "lockstep", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Fields) != 1 || b.Fields[0].Value != "(secret)" {
		t.Fatalf("%+v", b.Fields)
	}
}

func TestBlameRejectsCorruptManagedFields(t *testing.T) {
	live := mustObject(t, strings.Replace(liveDeployment, "f:replicas: {}", `f:replicas: "x"`, 1))
	if _, err := audit.BlameObject(live, "lockstep", nil); err == nil || !strings.Contains(err.Error(), "managed fields of lockstep") {
		t.Fatalf("err = %v", err)
	}
}

func keys(m map[string]audit.FieldBlame) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A drift that self-heal put back leaves the field Git's, unflagged, set by
// the sync that set it before; blame still tells who changed it and that it
// was reverted.
func TestBlameListsDriftsThatWereReverted(t *testing.T) {
	live := mustObject(t, liveDeployment)
	created := audit.Record{Seq: 1, Event: audit.EventSync, Revision: "aaa", Changes: []audit.Change{deploymentChange(audit.Create)}}
	scaled := func(seq uint64, who string) audit.Record {
		c := deploymentChange(audit.Update, audit.FieldChange{Path: "spec.replicas", From: "3", To: "9"})
		c.ChangedBy = &audit.Writer{Manager: who, Time: "2026-11-30T04:00:00Z"}
		return audit.Record{Seq: seq, Event: audit.EventDrift, Result: audit.Reverted, Changes: []audit.Change{c}}
	}
	// Self-heal writes the drift and, after it, the sync that put the value back.
	revert := audit.Record{Seq: 10, Event: audit.EventSync, Trigger: "Drift", Revision: "aaa",
		Changes: []audit.Change{deploymentChange(audit.Update, audit.FieldChange{Path: "spec.replicas", From: "9", To: "3"})}}
	b, err := audit.BlameObject(live, "lockstep", []audit.Record{revert, scaled(9, "kubectl-scale"), scaled(4, "hpa"), created})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range b.Fields {
		switch f.Path {
		case "spec.replicas":
			want := "changed by kubectl-scale at 2026-11-30T04:00:00Z, reverted (drift record #9)|changed by hpa at 2026-11-30T04:00:00Z, reverted (drift record #4)"
			if got := strings.Join(f.Reverted, "|"); got != want || len(f.Flags) != 0 || f.SetBy == nil || f.SetBy.Seq != 1 {
				t.Errorf("spec.replicas: reverted %q, flags %q, set by %+v", got, f.Flags, f.SetBy)
			}
		default:
			if len(f.Reverted) != 0 {
				t.Errorf("%s: reverted %q, but no drift touched it", f.Path, f.Reverted)
			}
		}
	}
}
