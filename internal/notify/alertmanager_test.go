package notify

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// amAlert is an alert as Alertmanager's API v2 reads it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     *time.Time        `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func TestAlertmanagerFiresThenResolves(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	p := mustNew(t, Config{Type: Alertmanager, Address: rc.URL + "/alertmanager/", AlertTTL: 6 * time.Hour})

	failed := sample()
	if err := p.Send(t.Context(), failed); err != nil {
		t.Fatal(err)
	}
	succeeded := sample()
	succeeded.Trigger, succeeded.Severity = SyncSucceeded, Info
	succeeded.Time = failed.Time.Add(10 * time.Minute)
	succeeded.Summary = "1 updated"
	if err := p.Send(t.Context(), succeeded); err != nil {
		t.Fatal(err)
	}

	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, r := range got {
		if r.Method != http.MethodPost || r.Path != "/alertmanager/api/v2/alerts" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %s", r.Method, r.Path, r.Header.Get("Content-Type"))
		}
	}

	var fired []amAlert
	if err := json.Unmarshal(got[0].Body, &fired); err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"alertname": "LockstepSyncFailed", "application": "team-a/web", "namespace": "web",
		"project": "team-a", "severity": "error",
	}
	starts, ends := failed.Time, failed.Time.Add(6*time.Hour)
	want := []amAlert{{
		Labels: wantLabels,
		Annotations: map[string]string{
			"summary": "SyncFailed team-a/web at 1a2b3c4", "description": failed.Summary,
			"revision": failed.Revision, "ledger": "#12, #13",
		},
		StartsAt: &starts, EndsAt: &ends, GeneratorURL: failed.URL,
	}}
	if diff := cmp.Diff(want, fired); diff != "" {
		t.Errorf("fired (-want +got):\n%s", diff)
	}

	var resolved []amAlert
	if err := json.Unmarshal(got[1].Body, &resolved); err != nil {
		t.Fatal(err)
	}
	// The resolution repeats the failure's labels exactly: that is how
	// Alertmanager finds the alert it ends.
	var match *amAlert
	for i, a := range resolved {
		if a.Labels["alertname"] == "LockstepSyncFailed" {
			match = &resolved[i]
		}
		if a.StartsAt != nil || a.EndsAt == nil || !a.EndsAt.Equal(succeeded.Time) {
			t.Errorf("resolving alert %v: startsAt %v endsAt %v, want no start and the success's time as end", a.Labels, a.StartsAt, a.EndsAt)
		}
	}
	if match == nil {
		t.Fatalf("no resolution of LockstepSyncFailed among %d alerts", len(resolved))
	}
	if diff := cmp.Diff(wantLabels, match.Labels); diff != "" {
		t.Errorf("resolution's labels (-fired +resolving):\n%s", diff)
	}
	if match.Annotations["summary"] != "SyncSucceeded team-a/web at 1a2b3c4" {
		t.Errorf("resolution's summary %q", match.Annotations["summary"])
	}
	names := map[string]bool{}
	for _, a := range resolved {
		names[a.Labels["alertname"]] = true
	}
	for _, n := range []string{"LockstepPolicyDenied", "LockstepVerificationFailed", "LockstepApprovalMissing", "LockstepDriftDetected"} {
		if !names[n] {
			t.Errorf("SyncSucceeded does not resolve %s", n)
		}
	}
	if names["LockstepHealthDegraded"] {
		t.Error("SyncSucceeded resolved LockstepHealthDegraded: a sync that succeeded may still be unhealthy")
	}
}

func TestEveryTriggerFiresOrResolves(t *testing.T) {
	for _, tr := range Triggers {
		_, fires := alertSeverity[tr]
		_, ends := resolves[tr]
		if fires == ends {
			t.Errorf("%s: fires %v, resolves %v; want exactly one", tr, fires, ends)
		}
	}
	for success, failures := range resolves {
		for _, f := range failures {
			if _, ok := alertSeverity[f]; !ok {
				t.Errorf("%s resolves %s, which never fires", success, f)
			}
		}
	}
}
