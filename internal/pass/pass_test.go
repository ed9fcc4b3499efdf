package pass_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/source"
)

var (
	t0      = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	applied = source.Commit{Hash: strings.Repeat("a", 40), Ref: "refs/heads/main", Author: "Ann <ann@x.io>", Subject: "first"}
	newest  = source.Commit{Hash: strings.Repeat("b", 40), Ref: "refs/heads/main", Author: "Bob <bob@x.io>", Subject: "second",
		Message: "second\n\nFixes OPS-7\n\nApproved-by: Lead <lead@x.io>\n", Trailers: []source.Trailer{{Key: "Approved-by", Value: "Lead <lead@x.io>"}}}
)

func parse(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// syncedApp is an Application whose last pass applied `applied` with digest
// "sha256:old" and left it Ready.
func syncedApp() *v1.Application {
	app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", Generation: 1}}
	app.Spec.Destination.Namespace = "prod"
	app.Status = v1.ApplicationStatus{
		ObservedGeneration:  1,
		Sync:                v1.SyncStatus{Status: v1.Synced, Revision: applied.Hash},
		LastAppliedRevision: &v1.Revision{Commit: applied.Hash, Ref: applied.Ref, Author: applied.Author, Subject: applied.Subject},
		LastAppliedDigest:   "sha256:old",
		Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonSucceeded,
			Message: "Applied revision " + applied.Hash[:12], ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(t0)}},
	}
	return app
}

func configMap(t *testing.T, value string) *unstructured.Unstructured {
	return parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\ndata: {level: "+value+"}\n")
}

var cmKey = object.Key{Kind: "ConfigMap", Namespace: "prod", Name: "cfg"}

func TestDecide(t *testing.T) {
	update := plan.Plan{Steps: []plan.Step{{Action: plan.Update, Key: cmKey}}}
	inSync := plan.Plan{Steps: []plan.Step{{Action: plan.Unchanged, Key: cmKey}}}
	for _, tc := range []struct {
		name        string
		edit        func(*v1.Application)
		plan        plan.Plan
		digest      string
		want        pass.Decision
		wantTrigger string
	}{
		{"a new render is synced", nil, update, "sha256:new", pass.Sync, v1.TriggerGit},
		{"nothing to do is a sync that changes nothing", nil, inSync, "sha256:old", pass.Sync, v1.TriggerGit},
		{"drift is reported", nil, update, "sha256:old", pass.ReportDrift, ""},
		{"drift is reverted with self-heal", func(a *v1.Application) { a.Spec.Sync.SelfHeal = true }, update, "sha256:old", pass.Sync, v1.TriggerDrift},
		{"a manual sync reverts drift", func(a *v1.Application) {
			a.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: "ann at 10:00"}
		}, update, "sha256:old", pass.Sync, v1.TriggerManual},
		{"a handled manual sync is not pending", func(a *v1.Application) {
			a.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: "ann at 10:00"}
			a.Status.LastHandledSyncRequest = "ann at 10:00"
		}, update, "sha256:old", pass.ReportDrift, ""},
		{"without automated sync a change waits", func(a *v1.Application) { a.Spec.Sync.Automated = ptr.To(false) }, update, "sha256:new", pass.AwaitSync, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := syncedApp()
			if tc.edit != nil {
				tc.edit(app)
			}
			d, trigger := pass.Decide(app, tc.plan, tc.digest, pass.ManualSyncPending(app))
			if d != tc.want || trigger != tc.wantTrigger {
				t.Errorf("Decide = %s, %q; want %s, %q", d, trigger, tc.want, tc.wantTrigger)
			}
		})
	}
}

// syncPass is a pass that updated the ConfigMap to the newest commit.
func syncPass(t *testing.T) *pass.Pass {
	desired, live := configMap(t, "debug"), configMap(t, "info")
	step := plan.Step{Action: plan.Update, Key: cmKey, Version: "v1", Desired: desired, ChangedFields: []string{"data.level"}}
	p := &pass.Pass{Application: syncedApp(), Started: t0, Finished: t0.Add(2 * time.Second), Project: "default",
		Commit: &newest, Digest: "sha256:new", Plan: plan.Plan{Steps: []plan.Step{step}},
		Observed: apply.Observation{Current: map[object.Key]*unstructured.Unstructured{cmKey: live}, DryRun: map[object.Key]*unstructured.Unstructured{cmKey: desired}},
		Decision: pass.Sync, Trigger: v1.TriggerGit, SyncStarted: t0.Add(time.Second), Applied: true,
		Changes:       apply.ChangeSet{Applied: []plan.Step{step}, Live: map[object.Key]*unstructured.Unstructured{cmKey: desired}},
		Health:        map[object.Key]health.Result{cmKey: {Status: health.Healthy}},
		HealthSummary: health.Summary{Status: health.Healthy}}
	return p
}

func TestASyncedPass(t *testing.T) {
	p := syncPass(t)
	next := pass.Status(p)
	ready := meta.FindStatusCondition(next.Conditions, v1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Message != "Applied revision "+newest.Hash[:12] {
		t.Fatalf("Ready = %+v", ready)
	}
	if next.Sync != (v1.SyncStatus{Status: v1.Synced, Revision: newest.Hash}) || next.LastAppliedRevision.Commit != newest.Hash || next.LastAppliedDigest != "sha256:new" {
		t.Errorf("sync %+v, applied %+v, digest %s", next.Sync, next.LastAppliedRevision, next.LastAppliedDigest)
	}
	if len(next.History) != 1 || next.History[0].Updated != 1 || next.History[0].Result != v1.SyncSucceeded || !next.History[0].StartedAt.Time.Equal(t0.Add(time.Second)) {
		t.Errorf("history %+v", next.History)
	}
	//lint:ignore SA1019 the older inventory must be cleared once Managed is written
	legacy := next.Inventory
	if refs := next.ManagedRefs(); len(refs) != 1 || refs[0].Name != "cfg" || legacy != nil || next.Health.Status != "Healthy" {
		t.Errorf("managed %+v, inventory %+v, health %+v", next.Managed, legacy, next.Health)
	}

	recs := pass.Records(p, &next)
	if len(recs) != 1 {
		t.Fatalf("records %+v", recs)
	}
	r := recs[0]
	if r.Event != audit.EventSync || r.Result != audit.Succeeded || r.Revision != newest.Hash || r.PreviousRevision != applied.Hash ||
		r.DurationMS != 1000 || r.Commit == nil || !cmp.Equal(r.Commit.Tickets, []string{"OPS-7"}) || len(r.Commit.ApprovedBy) != 1 {
		t.Errorf("sync record %+v", r)
	}
	if len(r.Changes) != 1 || r.Changes[0].Action != audit.Update || len(r.Changes[0].Fields) != 1 || r.Changes[0].Fields[0].From != `"info"` {
		t.Errorf("changes %+v", r.Changes)
	}

	written := []audit.Record{{Seq: 41}}
	events := pass.Events(p, &next, written)
	if len(events) != 1 || events[0].Reason != v1.ReasonSucceeded || events[0].Note != "Synced "+newest.Hash[:12]+": 0 created, 1 updated, 0 pruned (ledger #41)" {
		t.Errorf("events %+v", events)
	}
	if d := pass.RequeueAfter(p, &next, 0); d != v1.DefaultInterval {
		t.Errorf("requeue after %s", d)
	}
}

// A pass that finds everything as the last one left it changes nothing: no
// status write, no record, no Event.
func TestASteadyPassReportsNothing(t *testing.T) {
	first := syncPass(t)
	app := first.Application.DeepCopy()
	app.Status = pass.Status(first)
	desired := configMap(t, "debug")
	step := plan.Step{Action: plan.Unchanged, Key: cmKey, Version: "v1", Desired: desired}
	p := &pass.Pass{Application: app, Started: t0.Add(time.Minute), Finished: t0.Add(time.Minute + time.Second), Project: "default",
		Commit: &newest, Digest: "sha256:new", Plan: plan.Plan{Steps: []plan.Step{step}}, Decision: pass.Sync, Trigger: v1.TriggerGit,
		SyncStarted: t0.Add(time.Minute), Applied: true,
		Health: map[object.Key]health.Result{cmKey: {Status: health.Healthy}}, HealthSummary: health.Summary{Status: health.Healthy}}
	next := pass.Status(p)
	if !equality.Semantic.DeepEqual(&app.Status, &next) {
		t.Errorf("a steady pass changed the status: %s", cmp.Diff(app.Status, next))
	}
	if recs := pass.Records(p, &next); len(recs) != 0 {
		t.Errorf("records %+v", recs)
	}
	if evs := pass.Events(p, &next, nil); len(evs) != 0 {
		t.Errorf("events %+v", evs)
	}
}

func TestADenialIsRecordedOnceAndNeverSaysSynced(t *testing.T) {
	secret := parse(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: hunter2-long}\n")
	denied := func(app *v1.Application) *pass.Pass {
		return &pass.Pass{Application: app, Started: t0, Finished: t0, Project: "team", Commit: &newest,
			Rendered: nil, Plan: plan.Plan{Steps: []plan.Step{{Action: plan.Create, Desired: secret}}},
			Err: &pass.StageError{Reason: v1.ReasonPolicyDenied, Err: errors.New(`Secret/prod/db: plain Secrets are refused (value "hunter2-long")`)}}
	}
	p := denied(syncedApp())
	next := pass.Status(p)
	// Truthful sync status: the newest commit is refused, so the cluster does not run what Git says.
	if next.Sync != (v1.SyncStatus{Status: v1.OutOfSync, Revision: newest.Hash, Reason: v1.ReasonPolicyDenied}) || next.LastAppliedRevision.Commit != applied.Hash {
		t.Errorf("sync %+v, applied %s", next.Sync, next.LastAppliedRevision.Commit)
	}
	stalled := meta.FindStatusCondition(next.Conditions, v1.ConditionStalled)
	if stalled == nil || stalled.Reason != v1.ReasonPolicyDenied || strings.Contains(stalled.Message, "hunter2-long") {
		t.Errorf("Stalled = %+v", stalled)
	}
	recs := pass.Records(p, &next)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Event != audit.EventDenied || r.Result != audit.Failed || r.Reason != v1.ReasonPolicyDenied || r.Revision != newest.Hash || r.Commit == nil {
		t.Fatalf("denial record: %+v", r)
	}
	if strings.Contains(r.Message, "hunter2-long") || !strings.Contains(r.Message, audit.Redacted) {
		t.Fatalf("the Secret's value reached the record: %q", r.Message)
	}
	evs := pass.Events(p, &next, []audit.Record{{Seq: 7}})
	if len(evs) != 1 || evs[0].Type != "Warning" || strings.Contains(evs[0].Note, "hunter2-long") || !strings.HasSuffix(evs[0].Note, "(ledger #7)") {
		t.Errorf("events %+v", evs)
	}
	// The same denial on the next pass is neither recorded nor written again.
	app := syncedApp()
	app.Status = next
	again := denied(app)
	again.Finished = t0.Add(time.Minute)
	if n := pass.Status(again); !equality.Semantic.DeepEqual(&app.Status, &n) {
		t.Errorf("a repeated denial changed the status: %s", cmp.Diff(app.Status, n))
	} else if recs := pass.Records(again, &n); len(recs) != 0 {
		t.Errorf("a repeated denial was recorded again: %+v", recs)
	}
}

func TestSyncStateAfterFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit *source.Commit
		reason string
		want   v1.SyncStatus
	}{
		{"the source failed: nobody knows", nil, v1.ReasonSourceFailed, v1.SyncStatus{Status: v1.Unknown, Reason: v1.ReasonSourceFailed}},
		{"the newest commit does not render", &newest, v1.ReasonRenderFailed, v1.SyncStatus{Status: v1.Unknown, Revision: newest.Hash, Reason: v1.ReasonRenderFailed}},
		{"the newest commit is unsigned", &newest, v1.ReasonVerificationFailed, v1.SyncStatus{Status: v1.OutOfSync, Revision: newest.Hash, Reason: v1.ReasonVerificationFailed}},
		{"the applied commit is denied now (a Project tightened)", &applied, v1.ReasonPolicyDenied, v1.SyncStatus{Status: v1.Synced, Revision: applied.Hash}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass.Pass{Application: syncedApp(), Started: t0, Finished: t0, Commit: tc.commit,
				Err: &pass.StageError{Reason: tc.reason, Transient: tc.reason == v1.ReasonSourceFailed, Err: errors.New("no")}}
			if got := pass.Status(p).Sync; got != tc.want {
				t.Errorf("sync %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Drift is described once (pass.Drift) and reported three ways: condition,
// Event and ledger record all name the object, the field and who changed it.
// driftPass finds the ConfigMap changed in the cluster by kubectl-edit and
// leaves it (no self-heal).
func driftPass(t *testing.T, app *v1.Application) *pass.Pass {
	desired := configMap(t, "info")
	live := parse(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: prod
  managedFields:
  - {manager: lockstep, operation: Apply, time: "2026-11-29T09:00:00Z"}
  - {manager: kubectl-edit, operation: Update, time: "2026-11-29T09:30:00Z"}
data: {level: debug}
`)
	step := plan.Step{Action: plan.Update, Key: cmKey, Version: "v1", Desired: desired, ChangedFields: []string{"data.level"}}
	return &pass.Pass{Application: app, Started: t0, Finished: t0, Commit: &applied, Digest: "sha256:old",
		Plan:     plan.Plan{Steps: []plan.Step{step}},
		Observed: apply.Observation{Current: map[object.Key]*unstructured.Unstructured{cmKey: live}, DryRun: map[object.Key]*unstructured.Unstructured{cmKey: desired}},
		Decision: pass.ReportDrift, HealthSummary: health.Summary{Status: health.Healthy}}
}

func TestDriftIsReportedThreeWaysFromOneDescription(t *testing.T) {
	p := driftPass(t, syncedApp())
	const want = "ConfigMap/prod/cfg changed (data.level) by kubectl-edit at 2026-11-29T09:30:00Z"
	if got := pass.DescribeDrift(p); got != want {
		t.Fatalf("DescribeDrift = %q", got)
	}
	next := pass.Status(p)
	ready := meta.FindStatusCondition(next.Conditions, v1.ConditionReady)
	if ready.Reason != v1.ReasonDriftDetected || !strings.HasPrefix(ready.Message, want) || next.Sync.Status != v1.OutOfSync {
		t.Errorf("Ready %+v, sync %+v", ready, next.Sync)
	}
	if next.Resources[0].DriftedBy == nil || next.Resources[0].DriftedBy.Manager != "kubectl-edit" {
		t.Errorf("resource %+v", next.Resources[0])
	}
	recs := pass.Records(p, &next)
	if len(recs) != 1 || recs[0].Event != audit.EventDrift || recs[0].Result != audit.Detected || recs[0].Message != want ||
		recs[0].Changes[0].ChangedBy.Manager != "kubectl-edit" || recs[0].Changes[0].Fields[0].To != `"debug"` {
		t.Fatalf("records %+v", recs)
	}
	evs := pass.Events(p, &next, nil)
	if len(evs) != 1 || evs[0].Reason != v1.ReasonDriftDetected || evs[0].Note != "Drift detected: "+want {
		t.Errorf("events %+v", evs)
	}
}

func TestRequeue(t *testing.T) {
	app := syncedApp()
	app.Spec.Sync.Interval = &metav1.Duration{Duration: time.Minute}
	app.Spec.Sync.Retry = &v1.RetryPolicy{Limit: 5, Backoff: &metav1.Duration{Duration: time.Second}}
	transient := &pass.Pass{Application: app, Err: &pass.StageError{Reason: v1.ReasonSourceFailed, Transient: true, Err: errors.New("down")}}
	if d := pass.RequeueAfter(transient, &app.Status, 2); d != 2*time.Second {
		t.Errorf("second transient failure requeues after %s, want 2s", d)
	}
	if d := pass.RequeueAfter(transient, &app.Status, 6); d != time.Minute {
		t.Errorf("past the limit requeues after %s, want the interval", d)
	}
	stalled := &pass.Pass{Application: app, Err: &pass.StageError{Reason: v1.ReasonRenderFailed, Err: errors.New("bad YAML")}}
	if d := pass.RequeueAfter(stalled, &app.Status, 0); d != time.Minute {
		t.Errorf("a stalled failure requeues after %s, want the interval", d)
	}
	if d := pass.RequeueAfter(&pass.Pass{Application: app, Gated: true, Suspended: true}, &app.Status, 0); d != 0 {
		t.Errorf("a suspended Application requeues after %s, want never", d)
	}
	waiting := syncPass(t)
	waiting.Application.Spec.Sync.Wait = true
	waiting.HealthSummary = health.Summary{Status: health.Progressing, Object: "Deployment/prod/web"}
	next := pass.Status(waiting)
	if d := pass.RequeueAfter(waiting, &next, 0); d != v1.DefaultInterval {
		t.Errorf("waiting for health requeues after %s, want min(interval, timeout)", d)
	}
	if r := meta.FindStatusCondition(next.Conditions, v1.ConditionReady); r.Reason != v1.ReasonProgressing {
		t.Errorf("Ready while waiting: %+v", r)
	}
}

func TestTruncateNeverSplitsACharacter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"héllo wörld", 5, "héllo…"},
		{"日本語のテキスト", 3, "日本語…"},
		{"ab", 2, "ab"},
	} {
		if got := pass.Truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// The API server refuses an Event note over 1024 bytes, and the Event is lost:
// a failure message in any script fits, whole characters only.
func TestEventNotesFitTheAPIServersLimit(t *testing.T) {
	long := strings.Repeat("配置の読み込みに失敗しました ", 200)
	p := &pass.Pass{Application: syncedApp(), Started: t0, Finished: t0, Commit: &newest,
		Err: &pass.StageError{Reason: v1.ReasonRenderFailed, Err: errors.New(long)}}
	next := pass.Status(p)
	evs := pass.Events(p, &next, []audit.Record{{Seq: 123456}})
	if len(evs) != 1 || len(evs[0].Note) > 1024 || !utf8.ValidString(evs[0].Note) || !strings.HasSuffix(evs[0].Note, "… (ledger #123456)") {
		t.Errorf("note of %d bytes, valid UTF-8 %v: %q", len(evs[0].Note), utf8.ValidString(evs[0].Note), evs[0].Note[max(0, len(evs[0].Note)-40):])
	}
	for _, n := range []int{0, 1, 3, 4, 5, 10} {
		if got := pass.TruncateBytes("日本語", n); len(got) > max(n, 3) || !utf8.ValidString(got) {
			t.Errorf("TruncateBytes(日本語, %d) = %q", n, got)
		}
	}
}

// A Secret value a chart copied into a ConfigMap (Helm values read from a
// Secret) is not kept by the ledger's field changes.
func TestSecretValuesCopiedIntoOtherObjectsAreScrubbedFromRecords(t *testing.T) {
	p := syncPass(t)
	const secret = "db-passw0rd-from-a-secret"
	desired := configMap(t, secret)
	p.Plan.Steps[0].Desired = desired
	p.Observed.DryRun[cmKey] = desired
	p.Secrets = []string{secret}
	next := pass.Status(p)
	recs := pass.Records(p, &next)
	if len(recs) != 1 || len(recs[0].Changes) != 1 || len(recs[0].Changes[0].Fields) != 1 {
		t.Fatalf("records %+v", recs)
	}
	if fc := recs[0].Changes[0].Fields[0]; strings.Contains(fc.To, secret) || fc.From != `"info"` {
		t.Errorf("the field change keeps the Secret value: %+v", fc)
	}
}

// A rollback says so in its Event.
func TestARollbackSaysSoInItsEvent(t *testing.T) {
	p := syncPass(t)
	p.Rollback = true
	next := pass.Status(p)
	events := pass.Events(p, &next, []audit.Record{{Seq: 7}})
	if len(events) != 1 || !strings.Contains(events[0].Note, "a rollback") {
		t.Errorf("events %+v", events)
	}
}

func TestASyncPinnedToAnOlderCommitIsRefused(t *testing.T) {
	p := syncPass(t)
	p.Application.Spec.Sync.Automated = ptr.To(false)
	request := v1.SyncRequestValue("alice", t0, applied.Hash[:12], 0)
	p.Application.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: request}
	p.TakeSyncRequest()
	if p.Request != nil || p.Refused == nil || p.Refused.Who != "alice" {
		t.Fatalf("TakeSyncRequest: Request %+v, Refused %+v; want the request refused", p.Request, p.Refused)
	}
	p.Decision, p.Trigger = pass.Decide(p.Application, p.Plan, p.Digest, p.Request != nil)
	if p.Decision != pass.AwaitSync {
		t.Errorf("Decision = %s, want AwaitSync (nothing applied for a refused request)", p.Decision)
	}
	next := pass.Status(p)
	if next.LastHandledSyncRequest != request || len(next.History) == 0 || next.History[0].Result != v1.SyncFailed ||
		!strings.Contains(next.History[0].Message, "preview the new commit") {
		t.Errorf("status: handled %q, history %+v; want the request answered with a failure", next.LastHandledSyncRequest, next.History)
	}
	recs := pass.Records(p, &next)
	if len(recs) != 1 || recs[0].Reason != v1.ReasonRevisionChanged || recs[0].Actor != "alice" || recs[0].Result != audit.Failed {
		t.Errorf("records %+v; want only the refused request, with its actor", recs)
	}
	evs := pass.Events(p, &next, nil)
	if len(evs) == 0 || evs[0].Reason != v1.ReasonRevisionChanged {
		t.Errorf("events %+v; want a RevisionChanged warning first", evs)
	}

	// Pinned to the newest commit, the same request is a manual sync.
	p = syncPass(t)
	p.Application.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: v1.SyncRequestValue("alice", t0, newest.Hash, 0)}
	p.TakeSyncRequest()
	if p.Request == nil || p.Refused != nil || p.Initiator() != "alice" {
		t.Errorf("a request pinned to the newest commit: Request %+v, Refused %+v", p.Request, p.Refused)
	}
}

func TestASyncPinnedToAnOlderSpecIsRefused(t *testing.T) {
	p := syncPass(t)
	p.Application.Generation = 3
	p.Application.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: v1.SyncRequestValue("alice", t0, newest.Hash, 2)}
	p.TakeSyncRequest()
	if p.Refused == nil || p.RefusalReason() != v1.ReasonSpecChanged || !strings.Contains(p.RefusalMessage(), "generation 2") {
		t.Fatalf("refused %+v (%s: %s); want SpecChanged", p.Refused, p.RefusalReason(), p.RefusalMessage())
	}
	p = syncPass(t)
	p.Application.Generation = 3
	p.Application.Annotations = map[string]string{v1.AnnotationSyncRequestedBy: v1.SyncRequestValue("alice", t0, newest.Hash, 3)}
	if p.TakeSyncRequest(); p.Request == nil || p.Request.Generation != 3 {
		t.Errorf("a request of the current generation: %+v", p.Request)
	}
	if got := v1.ParseSyncRequest("bob at 2026-11-30T10:00:00Z for abc123 gen x"); got.Commit != "abc123" || got.Generation != 0 {
		t.Errorf("a malformed generation: %+v", got)
	}
}
