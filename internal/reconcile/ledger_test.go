package reconcile_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"
	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// apiToken is the shared controller's API token.
const apiToken = "test-token-0123456789abcdef"

func apiClient(t *testing.T) *server.Client {
	t.Helper()
	c, err := server.NewClient(shared.apiURL, apiToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// records returns the Application's records, oldest first.
func (f *repoFixture) records(t *testing.T, app string, events ...audit.Event) []audit.Record {
	t.Helper()
	recs, err := apiClient(t).Records(testenv.Context(t), audit.Filter{Application: f.ns + "/" + app, Events: events, OldestFirst: true, Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitRecords waits until the Application has n records of the given events.
func (f *repoFixture) waitRecords(t *testing.T, app string, n int, events ...audit.Event) []audit.Record {
	t.Helper()
	var recs []audit.Record
	eventually(t, 45*time.Second, fmt.Sprintf("%d %v records of %s", n, events, app), func(ctx context.Context) (bool, error) {
		recs = f.records(t, app, events...)
		return len(recs) >= n, fmt.Errorf("%d records: %s", len(recs), describe(recs))
	})
	if len(recs) != n {
		t.Fatalf("%d %v records, want %d: %s", len(recs), events, n, describe(recs))
	}
	return recs
}

func describe(recs []audit.Record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("#%d %s %s by %s (%s) %d changes", r.Seq, r.Event, r.Result, r.Actor, r.Reason, len(r.Changes)))
	}
	return strings.Join(parts, "; ")
}

func verifyLedger(t *testing.T) audit.Report {
	t.Helper()
	key, err := audit.ParsePublicKey(trustedKey(t))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := apiClient(t).Verify(testenv.Context(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.KeyTrusted {
		t.Fatalf("the ledger does not verify: %+v", rep)
	}
	return rep
}

// trustedKey is the ledger's public key, as security would save it from the
// controller's Secret.
func trustedKey(t *testing.T) []byte {
	t.Helper()
	s, err := testenv.Clientset(t).CoreV1().Secrets(shared.opts.Namespace).Get(testenv.Context(t), controller.LedgerKeySecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Data["ed25519.pub"]
}

// annotate sets annotations (and optionally spec.suspend) on an Application, as
// the CLI's manual actions do.
func (f *repoFixture) annotate(t *testing.T, name string, suspend *bool, annotations map[string]string) {
	t.Helper()
	patch := map[string]any{"metadata": map[string]any{"annotations": annotations}}
	if suspend != nil {
		patch["spec"] = map[string]any{"suspend": *suspend}
	}
	body, _ := json.Marshal(patch)
	app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	if err := f.c.Patch(testenv.Context(t), app, client.RawPatch(types.MergePatchType, body)); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerRecordsEveryKindOfEvent(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	first := f.commit(t, "Add settings for OPS-7\n\nApproved-by: Lead <lead@example.com>\nReviewed-by: Rev <rev@example.com>\n", map[string]string{
		"app/cm.yaml":    configMapYAML,
		"app/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n",
	})
	f.create(t, f.application("rec", "app", nil))
	f.waitFor(t, "rec", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	// 1. A sync: who, what, which commit.
	sync1 := f.waitRecords(t, "rec", 1, audit.EventSync)[0]
	if sync1.Result != audit.Succeeded || sync1.Revision != first || sync1.Actor != audit.ActorController || sync1.Trigger != v1.TriggerGit ||
		sync1.Cluster != v1.InCluster || sync1.Namespace != f.ns || sync1.Health == "" {
		t.Errorf("first sync record: %+v", sync1)
	}
	if c := sync1.Commit; c == nil || c.Author != "Ada <ada@example.com>" || c.Subject != "Add settings for OPS-7" ||
		!slices.Equal(c.Tickets, []string{"OPS-7"}) || !slices.Equal(c.ApprovedBy, []string{"Lead <lead@example.com>"}) ||
		!slices.Equal(c.ReviewedBy, []string{"Rev <rev@example.com>"}) || c.Time.IsZero() {
		t.Errorf("commit of the first sync: %+v", sync1.Commit)
	}
	if len(sync1.Changes) != 2 || sync1.Changes[0].Action != audit.Create {
		t.Errorf("changes of the first sync: %+v", sync1.Changes)
	}

	// 2. An update with field values, and a prune.
	second := f.commit(t, "Change the greeting, drop extra", map[string]string{
		"app/cm.yaml":    strings.Replace(configMapYAML, "hello", "bonjour", 1),
		"app/extra.yaml": "",
	})
	f.refresh(t, "rec")
	f.waitFor(t, "rec", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	sync2 := f.waitRecords(t, "rec", 2, audit.EventSync)[1]
	if sync2.PreviousRevision != first || sync2.Revision != second {
		t.Errorf("second sync revisions: %+v", sync2)
	}
	var update, prune *audit.Change
	for i, c := range sync2.Changes {
		switch c.Action {
		case audit.Update:
			update = &sync2.Changes[i]
		case audit.Prune:
			prune = &sync2.Changes[i]
		}
	}
	if update == nil || len(update.Fields) != 1 || update.Fields[0] != (audit.FieldChange{Path: "data.GREETING", From: `"hello"`, To: `"bonjour"`}) {
		t.Errorf("the update: %+v", update)
	}
	if prune == nil || prune.Name != "extra" {
		t.Errorf("the prune in the sync: %+v", sync2.Changes)
	}
	if p := f.waitRecords(t, "rec", 1, audit.EventPrune)[0]; len(p.Changes) != 1 || p.Changes[0].Name != "extra" || p.Revision != second {
		t.Errorf("prune record: %+v", p)
	}
	// f.refresh named no user: the field manager that asked is the actor.
	if r := f.waitRecords(t, "rec", 1, audit.EventRefresh)[0]; !strings.Contains(r.Actor, "(field manager)") {
		t.Errorf("refresh record without a named user: %+v", r)
	}

	// 3. A drift, left alone (no self-heal), with who made it.
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["GREETING"] = "hacked"
	if err := f.c.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "rec", metav1.ConditionFalse, v1.ReasonDriftDetected, "")
	drift := f.waitRecords(t, "rec", 1, audit.EventDrift)[0]
	if drift.Result != audit.Detected || len(drift.Changes) != 1 || drift.Changes[0].ChangedBy == nil || drift.Changes[0].ChangedBy.Manager != "kubectl-edit" ||
		len(drift.Changes[0].Fields) != 1 || drift.Changes[0].Fields[0].To != `"hacked"` || drift.Changes[0].Fields[0].From != `"bonjour"` {
		t.Errorf("drift record: %+v", drift)
	}

	// 4. Manual actions by a named user: suspend, resume, refresh.
	yes, no := true, false
	f.annotate(t, "rec", &yes, map[string]string{v1.AnnotationActionRequestedBy: "suspend by alice at 2026-11-23T10:00:00Z"})
	f.waitFor(t, "rec", metav1.ConditionFalse, v1.ReasonSuspended, "")
	if r := f.waitRecords(t, "rec", 1, audit.EventSuspend)[0]; r.Actor != "alice" {
		t.Errorf("suspend record: %+v", r)
	}
	f.annotate(t, "rec", &no, map[string]string{v1.AnnotationActionRequestedBy: "resume by bob at 2026-11-23T10:05:00Z"})
	if r := f.waitRecords(t, "rec", 1, audit.EventResume)[0]; r.Actor != "bob" {
		t.Errorf("resume record: %+v", r)
	}
	f.annotate(t, "rec", nil, map[string]string{
		v1.AnnotationActionRequestedBy:    "refresh by carol at 2026-11-23T10:10:00Z",
		v1.AnnotationReconcileRequestedAt: time.Now().Format(time.RFC3339Nano),
	})
	if r := f.waitRecords(t, "rec", 2, audit.EventRefresh)[1]; r.Actor != "carol" {
		t.Errorf("refresh record: %+v", r)
	}

	// 5. A drift reverted: self-heal on, and the sync that reverted it.
	app := f.get(t, "rec")
	app.Spec.Sync.SelfHeal = true
	if err := f.c.Update(ctx, app); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "rec", metav1.ConditionTrue, v1.ReasonSucceeded, "")
	drifts := f.records(t, "rec", audit.EventDrift)
	if last := drifts[len(drifts)-1]; last.Result != audit.Reverted || last.Changes[0].ChangedBy.Manager != "kubectl-edit" {
		t.Errorf("the last drift record should be the reverted one: %s", describe(drifts))
	}
	if s := f.waitRecords(t, "rec", 3, audit.EventSync)[2]; s.Trigger != v1.TriggerDrift || s.Result != audit.Succeeded {
		t.Errorf("the reverting sync: %+v", s)
	}

	// 6. A failed sync: recorded once, not on every retry.
	bad := f.commit(t, "Break it", map[string]string{"app/cm.yaml": "kind: ConfigMap\n  bad: [indent\n"})
	f.refresh(t, "rec")
	f.waitFor(t, "rec", metav1.ConditionFalse, v1.ReasonRenderFailed, bad)
	failed := f.waitRecords(t, "rec", 4, audit.EventSync)[3]
	if failed.Result != audit.Failed || failed.Reason != v1.ReasonRenderFailed || failed.Revision != bad || failed.Message == "" {
		t.Errorf("failed sync record: %+v", failed)
	}
	f.refresh(t, "rec")
	time.Sleep(2 * time.Second)
	if n := len(f.records(t, "rec", audit.EventSync)); n != 4 {
		t.Errorf("a retry of the same failure wrote another record: %d sync records", n)
	}

	// Every record is named by an Event: the pass's own, or one of its own.
	eventually(t, 10*time.Second, "the failure's event names its record", func(ctx context.Context) (bool, error) {
		return hasEvent(ctx, f, "rec", v1.ReasonRenderFailed, "(ledger ", fmt.Sprintf("#%d", failed.Seq))
	})
	eventually(t, 10*time.Second, "an event for the suspend record", func(ctx context.Context) (bool, error) {
		return hasEvent(ctx, f, "rec", "Recorded", "Suspend Succeeded by alice")
	})
	verifyLedger(t)
}

func TestSecretValuesNeverReachTheLedgerLogsOrEvents(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	// Values no other test uses, so that finding them anywhere is a leak.
	v1Value := "first-" + strings.ToLower(f.ns) + "-s3cr3t"
	v2Value := "second-" + strings.ToLower(f.ns) + "-s3cr3t"
	v3Value := "edited-" + strings.ToLower(f.ns) + "-s3cr3t"
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: " + v + "}\n"
	}
	first := f.commit(t, "Add the database password", map[string]string{"app/secret.yaml": secret(v1Value)})
	f.create(t, f.application("sec", "app", nil))
	f.waitFor(t, "sec", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	second := f.commit(t, "Rotate the database password", map[string]string{"app/secret.yaml": secret(v2Value)})
	f.refresh(t, "sec")
	f.waitFor(t, "sec", metav1.ConditionTrue, v1.ReasonSucceeded, second)

	recs := f.waitRecords(t, "sec", 2, audit.EventSync)
	if c := recs[1].Changes; len(c) != 1 || len(c[0].Fields) == 0 || c[0].Fields[0].To != audit.SecretValue || c[0].Fields[0].From != "" {
		t.Fatalf("the rotation should say only %q: %+v", audit.SecretValue, c)
	}
	// A drift: someone edits the Secret in the cluster.
	s := &corev1.Secret{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "db"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte(v3Value)
	if err := f.c.Update(ctx, s, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	f.refresh(t, "sec") // in case Secrets are not watched
	drift := f.waitRecords(t, "sec", 1, audit.EventDrift)[0]
	if c := drift.Changes; len(c) != 1 || c[0].Fields[0].To != audit.SecretValue {
		t.Fatalf("drift of a Secret: %+v", c)
	}
	places := f.everywhere(t, "sec")
	if !bytes.Contains(places["export"], []byte(second)) || !bytes.Contains(places["controller logs"], []byte(second)) {
		t.Fatal("the search would find nothing: the export or the logs lack the revision")
	}
	assertNowhere(t, places, v1Value, v2Value, v3Value)
}

// everywhere gathers every place a value could end up: the ledger's export and
// database files, the controller's logs, the namespace's events, the
// Application's status.
func (f *repoFixture) everywhere(t *testing.T, app string) map[string][]byte {
	t.Helper()
	ctx := testenv.Context(t)
	var export bytes.Buffer
	if _, err := apiClient(t).Export(ctx, 0, &export); err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"export": export.Bytes()}
	for _, name := range []string{controller.LedgerFile, controller.LedgerFile + "-wal"} {
		if b, err := os.ReadFile(shared.opts.DataDir + "/" + name); err == nil {
			places[name] = b
		}
	}
	if len(places[controller.LedgerFile])+len(places[controller.LedgerFile+"-wal"]) == 0 {
		t.Fatal("the ledger database was not found where the controller keeps it")
	}
	logs, err := os.ReadFile(shared.logs)
	if err != nil {
		t.Fatal(err)
	}
	places["controller logs"] = logs
	events := &eventsv1.EventList{}
	if err := f.c.List(ctx, events, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	places["events"], _ = json.Marshal(events)
	current := f.get(t, app)
	places["status"], _ = json.Marshal(current.Status)
	places["preview (lockstep diff)"] = f.preview(t, current)
	return places
}

// preview is what `lockstep diff` shows of the Application now: the
// pipeline's preview, its error or its plan.
func (f *repoFixture) preview(t *testing.T, app *v1.Application) []byte {
	t.Helper()
	clients, err := kube.NewClients(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	pipeline, _, err := controller.NewPipeline(clients, f.c, controller.PipelineConfig{Render: sandboxedRender(t), RepositoryDir: t.TempDir(),
		Namespace: shared.opts.Namespace, TenantReadsAsController: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Preview(testenv.Context(t), app, reconcile.PreviewOptions{Fresh: true})
	if err != nil {
		return []byte(err.Error())
	}
	var out bytes.Buffer
	if err := cli.WritePlanDiff(&out, p); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// assertNowhere fails for each value found, raw or base64-encoded, in places.
func assertNowhere(t *testing.T, places map[string][]byte, values ...string) {
	t.Helper()
	for _, v := range values {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			for place, b := range places {
				if bytes.Contains(b, []byte(form)) {
					t.Errorf("a Secret value (%q) is in the %s", form, place)
				}
			}
		}
	}
}

func TestRecordsSurviveAControllerRestart(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "First", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("restart", "app", nil))
	f.waitFor(t, "restart", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	before := f.waitRecords(t, "restart", 1, audit.EventSync)
	headBefore := verifyLedger(t)

	restartController(t)
	// The API answers again once the controller is back.
	eventually(t, 60*time.Second, "the API after the restart", func(ctx context.Context) (bool, error) {
		_, err := apiClient(t).Verify(ctx, nil)
		return err == nil, err
	})
	after := f.records(t, "restart", audit.EventSync)
	if len(after) != 1 || after[0].Seq != before[0].Seq || after[0].Revision != first {
		t.Fatalf("records after the restart: %s", describe(after))
	}
	// The chain goes on, signed with the same key (kept in its Secret).
	second := f.commit(t, "Second", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "again", 1)})
	f.refresh(t, "restart")
	f.waitFor(t, "restart", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	f.waitRecords(t, "restart", 2, audit.EventSync)
	rep := verifyLedger(t)
	if rep.Key != headBefore.Key || rep.Last <= headBefore.Last {
		t.Fatalf("after the restart: %+v, before: %+v", rep, headBefore)
	}
}

func TestFiftyApplicationsSyncingAtOnceLoseNoRecord(t *testing.T) {
	f := newRepo(t)
	const n = 50
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("apps/a%02d/cm.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%02d}\ndata: {v: '1'}\n", i)
	}
	first := f.commit(t, "Fifty", files)
	for i := range n {
		f.create(t, f.application(fmt.Sprintf("a%02d", i), fmt.Sprintf("apps/a%02d", i), nil))
	}
	for i := range n {
		f.waitFor(t, fmt.Sprintf("a%02d", i), metav1.ConditionTrue, v1.ReasonSucceeded, first)
	}
	for k, v := range files {
		files[k] = strings.Replace(v, "'1'", "'2'", 1)
	}
	second := f.commit(t, "Fifty, again", files)
	for i := range n {
		f.refresh(t, fmt.Sprintf("a%02d", i))
	}
	for i := range n {
		f.waitFor(t, fmt.Sprintf("a%02d", i), metav1.ConditionTrue, v1.ReasonSucceeded, second)
	}
	// Exactly two syncs per Application: one create, one update; no duplicate.
	for i := range n {
		recs := f.waitRecords(t, fmt.Sprintf("a%02d", i), 2, audit.EventSync)
		if recs[0].Revision != first || recs[1].Revision != second || recs[0].Changes[0].Action != audit.Create ||
			recs[1].Changes[0].Action != audit.Update || recs[1].Changes[0].Name != fmt.Sprintf("cm-%02d", i) {
			t.Errorf("a%02d: %s", i, describe(recs))
		}
	}
	verifyLedger(t)
}

// A ledger whose key Secret was lost (or replaced) stops the controller with
// both fingerprints and the way out, instead of a new signer starting silently.
func TestALostLedgerKeyStopsTheController(t *testing.T) {
	ctx := testenv.Context(t)
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, controller.LedgerFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := audit.GenerateKey()
	if _, err := audit.New(store, key).Append(ctx, audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded}); err != nil {
		t.Fatal(err)
	}
	_ = store.Close()

	opts := controller.DefaultOptions()
	opts.DataDir, opts.Namespace, opts.Logger = dir, testenv.Namespace(t), logr.Discard()
	err = controller.Run(ctx, testenv.Config(t), opts) // its own namespace: a fresh key Secret is generated
	if !errors.Is(err, audit.ErrKeyChanged) || !strings.Contains(err.Error(), "--ledger-accept-new-key") || !strings.Contains(err.Error(), audit.Fingerprint(key.Public().(ed25519.PublicKey))) {
		t.Fatalf("Run with a ledger signed by another key: %v", err)
	}
}
