package pass_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A preview of thousands of big objects (a first sync) lists every step, but
// cuts each diff at 256 KiB and stops showing diffs after 8 MiB in all: the
// UI and the CLI get an answer they can draw.
func TestAPreviewBoundsItsDiffs(t *testing.T) {
	p := syncPass(t)
	big := strings.Repeat("x", 300<<10)
	p.Plan.Steps = nil
	for i := range 40 {
		cm := configMap(t, big)
		cm.SetName(fmt.Sprintf("cfg-%02d", i))
		p.Plan.Steps = append(p.Plan.Steps, plan.Step{Key: object.Key{Kind: "ConfigMap", Namespace: "prod", Name: cm.GetName()}, Action: plan.Create, Desired: cm})
	}
	pv, err := pass.NewPreview(p)
	if err != nil {
		t.Fatal(err)
	}
	steps, total, cut, omitted := 0, 0, 0, 0
	for _, w := range pv.Waves {
		for _, s := range w.Steps {
			steps++
			total += len(s.Diff)
			switch {
			case strings.Contains(s.Diff, "longer than 256 KiB"):
				cut++
			case strings.Contains(s.Diff, "longer than 8 MiB together"):
				omitted++
			}
		}
	}
	if steps != 40 || cut+omitted != 40 || omitted == 0 || total > 9<<20 {
		t.Errorf("%d steps, %d cut, %d omitted, %d bytes of diffs", steps, cut, omitted, total)
	}
}

func TestCapDiff(t *testing.T) {
	if got := pass.CapDiff("short"); got != "short" {
		t.Errorf("a short diff changed: %q", got)
	}
	if got := pass.CapDiff(strings.Repeat("é", 200<<10)); len(got) > 257<<10 || !strings.HasSuffix(got, "prints it whole)\n") {
		t.Errorf("a long diff: %d bytes, ends %q", len(got), got[len(got)-40:])
	}
}

// A password rotated in Git and copied into a ConfigMap: the old value, which
// only the cluster still holds, is hidden from the record's From and from the
// preview's diff as the new one is; a multi-line value (a key) too, though
// YAML writes it as an indented block.
func TestLiveAndMultiLineSecretValuesAreScrubbed(t *testing.T) {
	const old, rotated = "old-db-passw0rd", "new-db-passw0rd"
	const key = "-----BEGIN KEY-----\nc2VjcmV0IGtleSBsaW5lIG9uZQ\nc2VjcmV0IGtleSBsaW5lIHR3bw\n-----END KEY-----\n"
	p := syncPass(t)
	live, desired := configMap(t, old), configMap(t, rotated)
	_ = unstructured.SetNestedField(live.Object, key, "data", "tls.key")
	secretKey := object.Key{Kind: "Secret", Namespace: "prod", Name: "db"}
	p.Observed.Current[cmKey] = live
	p.Observed.Current[secretKey] = parse(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: "+old+"}\n")
	_ = unstructured.SetNestedField(p.Observed.Current[secretKey].Object, key, "stringData", "tls.key")
	p.Plan.Steps[0].Desired, p.Observed.DryRun[cmKey] = desired, desired
	p.Plan.Steps[0].ChangedFields = []string{"data.level", "data.tls.key"}
	p.Secrets = []string{rotated}

	next := pass.Status(p)
	raw, _ := json.Marshal(pass.Records(p, &next))
	pv, err := pass.NewPreview(p)
	if err != nil {
		t.Fatal(err)
	}
	diff := pv.Waves[0].Steps[0].Diff
	for _, secret := range []string{old, rotated, "c2VjcmV0IGtleSBsaW5lIG9uZQ"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the records hold %q: %s", secret, raw)
		}
		if strings.Contains(diff, secret) {
			t.Errorf("the preview's diff holds %q:\n%s", secret, diff)
		}
	}
	if !strings.Contains(diff, audit.Redacted) {
		t.Errorf("the diff hides nothing:\n%s", diff)
	}
}

// An object's health message is its own condition text: a Secret's value
// quoted there stays out of the Application's status.
func TestHealthMessagesInTheStatusAreScrubbed(t *testing.T) {
	const secret = "db-passw0rd-in-a-condition"
	p := syncPass(t)
	p.Secrets = []string{secret}
	p.Health[cmKey] = health.Result{Status: health.Degraded, Message: "cannot connect with " + secret}
	p.HealthSummary = health.Summary{Status: health.Degraded, Message: "ConfigMap/cfg: cannot connect with " + secret}
	next := pass.Status(p)
	raw, _ := json.Marshal(next)
	if strings.Contains(string(raw), secret) || !strings.Contains(string(raw), audit.Redacted) {
		t.Errorf("the status: %s", raw)
	}
}

// A preview of a revision lists the checks it fails that do not stop its
// plan, scrubbed of Secret values, and still shows the plan; NoteUnmet keeps
// the followed ref's failures (and transient ones) as errors.
func TestAPreviewOfARevisionListsWhatItLacks(t *testing.T) {
	p := syncPass(t)
	denied := &pass.StageError{Reason: "PolicyDenied", Err: errors.New("[spec.approvals] needs 2 approvers, has 0")}
	if err := p.NoteUnmet(denied); err != denied {
		t.Fatalf("the followed ref's denial became unmet: %v", err)
	}
	p.Revision = "branch feature"
	for _, err := range []error{
		&pass.StageError{Reason: "SourceFailed", Transient: true, Err: errors.New("connection reset")},
		&pass.StageError{Reason: "InvalidSpec", Err: errors.New("bad key source")},
		errors.New("no stage"),
	} {
		if got := p.NoteUnmet(err); got != err {
			t.Errorf("NoteUnmet(%v) = %v: want it kept as the error", err, got)
		}
	}
	if err := p.NoteUnmet(denied); err != nil {
		t.Fatalf("a revision's denial stopped its preview: %v", err)
	}
	pv, err := pass.NewWholePreview(p)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Requested != "branch feature" || len(pv.Unmet) != 1 || pv.Unmet[0].Reason != "PolicyDenied" || pv.Refused != nil || len(pv.Waves) == 0 {
		t.Errorf("preview: %+v", pv)
	}
}
