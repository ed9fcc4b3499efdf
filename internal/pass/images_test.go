package pass_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

const (
	webDigest = "registry.internal/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	jobDigest = "registry.internal/job@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// A sync's record names the images its objects run, from every kind of
// workload and every container list, sorted and each once; other records,
// and syncs that applied nothing, name none.
func TestASyncRecordsTheImagesItsObjectsRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects []string
		prune   bool
		want    []string
	}{
		{"a Pod's containers, init and ephemeral containers", []string{`apiVersion: v1
kind: Pod
metadata: {name: p, namespace: prod}
spec:
  initContainers: [{name: init, image: registry.internal/init:1}]
  containers: [{name: web, image: ` + webDigest + `}, {name: side, image: registry.internal/side:2}]
  ephemeralContainers: [{name: debug, image: registry.internal/debug:3}]
`}, false, []string{"registry.internal/debug:3", "registry.internal/init:1", "registry.internal/side:2", webDigest}},
		{"Deployments, StatefulSets, DaemonSets, ReplicaSets and Jobs: the pod template", []string{
			workload("apps/v1", "Deployment", "d", webDigest),
			workload("apps/v1", "StatefulSet", "s", webDigest),
			workload("apps/v1", "DaemonSet", "ds", "registry.internal/agent:1"),
			workload("apps/v1", "ReplicaSet", "rs", webDigest),
			workload("batch/v1", "Job", "j", jobDigest),
		}, false, []string{"registry.internal/agent:1", jobDigest, webDigest}},
		{"a CronJob: its job's template", []string{`apiVersion: batch/v1
kind: CronJob
metadata: {name: c, namespace: prod}
spec:
  schedule: "@daily"
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: ` + jobDigest + `}]}}}}
`}, false, []string{jobDigest}},
		{"a custom workload with a pod template", []string{workload("example.dev/v1", "Rollout", "r", webDigest)}, false, []string{webDigest}},
		{"an image volume", []string{`apiVersion: v1
kind: Pod
metadata: {name: p, namespace: prod}
spec:
  containers: [{name: web, image: ` + webDigest + `}]
  volumes: [{name: models, image: {reference: registry.internal/models:7}}]
`}, false, []string{"registry.internal/models:7", webDigest}},
		{"objects without containers", []string{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\ndata: {spec: x}\n"}, false, nil},
		{"a pruned workload runs no more", []string{workload("apps/v1", "Deployment", "d", webDigest)}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := syncPass(t)
			for _, y := range tc.objects {
				o := parse(t, y)
				step := plan.Step{Action: plan.Unchanged, Desired: o}
				if tc.prune {
					step = plan.Step{Action: plan.Prune}
				}
				p.Plan.Steps = append(p.Plan.Steps, step)
			}
			next := pass.Status(p)
			recs := pass.Records(p, &next)
			if len(recs) != 1 || recs[0].Event != audit.EventSync {
				t.Fatalf("records %+v", recs)
			}
			if diff := cmp.Diff(tc.want, recs[0].Images); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
		})
	}
}

// Hooks run once and are not what the Application runs; a failure that
// applied nothing, and a denial, name no images.
func TestImagesAreThoseTheSyncLeftRunning(t *testing.T) {
	p := syncPass(t)
	hook := parse(t, workload("batch/v1", "Job", "migrate", jobDigest))
	p.Plan.Steps = append(p.Plan.Steps, plan.Step{Action: plan.Create, Desired: parse(t, workload("apps/v1", "Deployment", "web", webDigest))})
	p.Plan.Hooks = []plan.Hook{{Object: hook}}
	next := pass.Status(p)
	if recs := pass.Records(p, &next); len(recs) != 1 || !cmp.Equal(recs[0].Images, []string{webDigest}) {
		t.Errorf("with a hook: %+v", recs)
	}

	failed := syncPass(t)
	failed.Plan.Steps = append(failed.Plan.Steps, plan.Step{Action: plan.Create, Desired: parse(t, workload("apps/v1", "Deployment", "web", webDigest))})
	failed.Applied = false
	failed.Err = &pass.StageError{Reason: v1.ReasonApplyFailed, Err: errors.New("Deployment.apps/prod/web: refused")}
	next = pass.Status(failed)
	recs := pass.Records(failed, &next)
	if len(recs) != 1 || recs[0].Result != audit.Failed || recs[0].Images != nil {
		t.Errorf("a failed sync: %+v", recs)
	}
}

func workload(apiVersion, kind, name, image string) string {
	return "apiVersion: " + apiVersion + "\nkind: " + kind + "\nmetadata: {name: " + name + ", namespace: prod}\n" +
		"spec:\n  template:\n    spec:\n      containers: [{name: c, image: " + image + "}]\n"
}
