package pass_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/notify"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// triggers lists the notices' triggers, in order.
func triggers(msgs []notify.Message) []notify.Trigger {
	var out []notify.Trigger
	for _, m := range msgs {
		out = append(out, m.Trigger)
	}
	return out
}

// after is the Application as the pass left it: its next pass reads this.
func after(p *pass.Pass) *v1.Application {
	app := p.Application.DeepCopy()
	app.Status = pass.Status(p)
	return app
}

// A sync that changed the cluster and left it healthy tells both, naming
// the Application, the commit, its author and approvers and the records;
// the next, steady pass tells nothing: Deployed is once per commit.
func TestNoticesOfASyncAndItsDeployment(t *testing.T) {
	p := syncPass(t)
	p.Approvers = []string{"Lead <lead@x.io>"}
	next := pass.Status(p)
	if next.LastDeployedRevision != newest.Hash {
		t.Fatalf("lastDeployedRevision %q, want %s", next.LastDeployedRevision, newest.Hash)
	}
	msgs := pass.Notices(p, &next, []audit.Record{{Seq: 41, Hash: "abc"}})
	if diff := cmp.Diff([]notify.Trigger{notify.SyncSucceeded, notify.Deployed}, triggers(msgs)); diff != "" {
		t.Fatalf("triggers (-want +got):\n%s", diff)
	}
	m := msgs[0]
	want := notify.Message{Trigger: notify.SyncSucceeded, Severity: notify.Info, Time: p.Finished, Application: "team/web", Project: "default",
		Namespace: "prod", Revision: newest.Hash, Author: newest.Author, Subject: newest.Subject, Approvers: []string{"Lead <lead@x.io>"},
		Sync: "Synced", Health: "Healthy", Reason: v1.ReasonSucceeded, Summary: "Synced " + newest.Hash[:12] + ": 0 created, 1 updated, 0 pruned",
		Records: []notify.RecordRef{{Seq: 41, Hash: "abc"}}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("SyncSucceeded (-want +got):\n%s", diff)
	}
	if d := msgs[1]; d.Revision != newest.Hash || d.Author != newest.Author || d.Subject != newest.Subject {
		t.Errorf("Deployed %+v", d)
	}

	steady := syncPass(t)
	steady.Application = after(p)
	steady.Changes.Applied = nil
	next = pass.Status(steady)
	if msgs := pass.Notices(steady, &next, nil); len(msgs) != 0 {
		t.Errorf("a steady pass tells %v", triggers(msgs))
	}
}

// A failure is told when it begins, by what failed, without the values of
// Secrets; the same failure on the next pass is not told again.
func TestNoticesOfFailuresAreToldOnce(t *testing.T) {
	approvals := &policy.DeniedError{Project: "team", Violations: []policy.Violation{{Rule: "spec.approvals", Message: "needs 2 approvals"}}}
	images := &policy.DeniedError{Project: "team", Violations: []policy.Violation{{Rule: "spec.images.registries", Message: `image "hunter2-long" refused`}}}
	for _, tc := range []struct {
		name   string
		reason string
		err    error
		want   notify.Trigger
	}{
		{"render", v1.ReasonRenderFailed, errors.New("web/cm.yaml: bad indent"), notify.SyncFailed},
		{"apply", v1.ReasonApplyFailed, errors.New("the API server refused it"), notify.SyncFailed},
		{"signature", v1.ReasonVerificationFailed, errors.New("not signed by a trusted key"), notify.VerificationFailed},
		{"approvals", v1.ReasonPolicyDenied, approvals, notify.ApprovalMissing},
		{"policy", v1.ReasonPolicyDenied, images, notify.PolicyDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := func(app *v1.Application, at time.Time) *pass.Pass {
				return &pass.Pass{Application: app, Started: at, Finished: at, Project: "team", Commit: &newest,
					Err:     &pass.StageError{Reason: tc.reason, Err: tc.err},
					Secrets: []string{"hunter2-long"}}
			}
			p := failed(syncedApp(), t0)
			next := pass.Status(p)
			msgs := pass.Notices(p, &next, []audit.Record{{Seq: 9}})
			if len(msgs) != 1 || msgs[0].Trigger != tc.want || msgs[0].Reason != tc.reason || msgs[0].Revision != newest.Hash || msgs[0].Severity == notify.Info {
				t.Fatalf("notices %+v, want one %s", msgs, tc.want)
			}
			if strings.Contains(msgs[0].Summary, "hunter2-long") {
				t.Errorf("a Secret's value reached the notice: %q", msgs[0].Summary)
			}
			again := failed(after(p), t0.Add(time.Minute))
			next = pass.Status(again)
			if msgs := pass.Notices(again, &next, nil); len(msgs) != 0 {
				t.Errorf("the same failure told again: %v", triggers(msgs))
			}
		})
	}
}

// Health turning Degraded is told once; drift found is told once, and its
// revert each time it happens.
func TestNoticesOfHealthAndDrift(t *testing.T) {
	p := syncPass(t)
	p.HealthSummary = health.Summary{Status: health.Degraded, Object: "Deployment/prod/web", Message: "1 of 3 replicas crash"}
	p.Health[cmKey] = health.Result{Status: health.Degraded}
	next := pass.Status(p)
	msgs := pass.Notices(p, &next, nil)
	if diff := cmp.Diff([]notify.Trigger{notify.SyncSucceeded, notify.HealthDegraded}, triggers(msgs)); diff != "" {
		t.Fatalf("triggers (-want +got):\n%s", diff)
	}
	if m := msgs[1]; m.Severity != notify.Error || !strings.Contains(m.Summary, "Deployment/prod/web") || m.Health != "Degraded" {
		t.Errorf("HealthDegraded %+v", m)
	}
	still := syncPass(t)
	still.Application, still.Changes.Applied = after(p), nil
	still.HealthSummary, still.Health[cmKey] = p.HealthSummary, p.Health[cmKey]
	next = pass.Status(still)
	if msgs := pass.Notices(still, &next, nil); len(msgs) != 0 {
		t.Errorf("still Degraded tells %v", triggers(msgs))
	}

	drift := driftPass(t, syncedApp())
	next = pass.Status(drift)
	if got := triggers(pass.Notices(drift, &next, nil)); !cmp.Equal(got, []notify.Trigger{notify.DriftDetected}) {
		t.Errorf("drift found: %v", got)
	}
	again := driftPass(t, after(drift))
	next = pass.Status(again)
	if got := triggers(pass.Notices(again, &next, nil)); len(got) != 0 {
		t.Errorf("the same drift told again: %v", got)
	}
	reverted := syncPass(t)
	reverted.Trigger = v1.TriggerDrift
	next = pass.Status(reverted)
	if got := triggers(pass.Notices(reverted, &next, nil)); len(got) == 0 || got[0] != notify.DriftReverted {
		t.Errorf("drift reverted: %v", got)
	}
}

// A sync that waits for health (sync.wait) and gives up is a failure told
// once, though no stage failed.
func TestNoticesOfAHealthWaitThatGaveUp(t *testing.T) {
	first := syncPass(t)
	first.Application.Spec.Sync.Wait = true
	first.Timeout = time.Minute
	first.HealthSummary = health.Summary{Status: health.Progressing, Object: "Deployment/prod/web", Message: "0 of 3 ready"}
	waiting := after(first)
	if msgs := pass.Notices(first, &waiting.Status, nil); len(triggers(msgs)) != 1 || msgs[0].Trigger != notify.SyncSucceeded {
		t.Fatalf("while waiting: %v", triggers(msgs))
	}
	late := syncPass(t)
	late.Application, late.Changes.Applied = waiting, nil
	late.Timeout, late.Started, late.Finished = time.Minute, t0.Add(time.Hour), t0.Add(time.Hour)
	late.HealthSummary = first.HealthSummary
	next := pass.Status(late)
	msgs := pass.Notices(late, &next, nil)
	if len(msgs) != 1 || msgs[0].Trigger != notify.SyncFailed || msgs[0].Reason != v1.ReasonHealthCheckFailed || !strings.Contains(msgs[0].Summary, "still Progressing") {
		t.Fatalf("after the wait: %+v", msgs)
	}
	again := syncPass(t)
	again.Application, again.Changes.Applied = after(late), nil
	again.Timeout, again.Started, again.Finished = time.Minute, t0.Add(2*time.Hour), t0.Add(2*time.Hour)
	again.HealthSummary = first.HealthSummary
	next = pass.Status(again)
	if msgs := pass.Notices(again, &next, nil); len(msgs) != 0 {
		t.Errorf("told again: %v", triggers(msgs))
	}
}

// A failure at the deployed commit that goes away (an apply that failed and
// then went through) is told to end (Recovered), so the alert it fired
// resolves and the commit's status turns green again; so is Degraded turning
// Healthy at the same commit.
func TestNoticesOfARecovery(t *testing.T) {
	deploy := syncPass(t)
	failed := &pass.Pass{Application: after(deploy), Started: t0.Add(time.Hour), Finished: t0.Add(time.Hour), Project: "default", Commit: &newest,
		Err: &pass.StageError{Reason: v1.ReasonApplyFailed, Transient: true, Err: errors.New("the API server is restarting")}}
	next := pass.Status(failed)
	if got := triggers(pass.Notices(failed, &next, nil)); !cmp.Equal(got, []notify.Trigger{notify.SyncFailed}) {
		t.Fatalf("failure: %v", got)
	}
	back := syncPass(t)
	back.Application, back.Changes.Applied = after(failed), nil
	back.Started, back.Finished = t0.Add(2*time.Hour), t0.Add(2*time.Hour)
	next = pass.Status(back)
	msgs := pass.Notices(back, &next, nil)
	if len(msgs) != 1 || msgs[0].Trigger != notify.Recovered || msgs[0].Revision != newest.Hash || msgs[0].Health != "Healthy" {
		t.Fatalf("recovery: %+v", msgs)
	}
	steady := syncPass(t)
	steady.Application, steady.Changes.Applied = after(back), nil
	next = pass.Status(steady)
	if got := triggers(pass.Notices(steady, &next, nil)); len(got) != 0 {
		t.Errorf("after the recovery: %v", got)
	}

	degraded := syncPass(t)
	degraded.Application, degraded.Changes.Applied = after(deploy), nil
	degraded.HealthSummary = health.Summary{Status: health.Degraded, Object: "Deployment/prod/web"}
	degraded.Health[cmKey] = health.Result{Status: health.Degraded}
	next = pass.Status(degraded)
	if got := triggers(pass.Notices(degraded, &next, nil)); !cmp.Equal(got, []notify.Trigger{notify.HealthDegraded}) {
		t.Fatalf("degraded: %v", got)
	}
	healthy := syncPass(t)
	healthy.Application, healthy.Changes.Applied = after(degraded), nil
	next = pass.Status(healthy)
	if got := triggers(pass.Notices(healthy, &next, nil)); !cmp.Equal(got, []notify.Trigger{notify.Recovered}) {
		t.Errorf("healthy again: %v", got)
	}
}
