package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// An Alertmanager receiver turns failures into alerts and successes into
// their resolution. Alertmanager tells alerts apart by their labels alone,
// so the labels hold only what names the alert and stays the same between
// its firing and its resolution:
//
//	alertname    Lockstep<Trigger>: LockstepSyncFailed, LockstepHealthDegraded, ...
//	application  the Application, "namespace/name"
//	namespace    the namespace it deploys to (absent when empty)
//	project      its Project (absent when empty)
//	severity     the trigger's (alertSeverity), not the message's: a
//	             resolution must repeat it, and it knows only the trigger
//
// Everything else (revision, ledger records, the summary) is an
// annotation, which Alertmanager replaces with the latest it receives.
// A failure fires with endsAt = its time + AlertTTL, because Alertmanager
// resolves an alert that is not sent again within its resolve_timeout (5
// minutes by default) and Lockstep sends a failure once, not every few
// minutes; a success (resolves) sends the failure alerts it ends with
// endsAt = its time. Resolving an alert that is not firing is harmless:
// Alertmanager sends no notification for it.
//
// An alert whose labels changed in between (the Application moved to
// another Project or namespace) is not matched by its resolution: it ends
// at its endsAt.
type alertmanager struct {
	http   *httpSender
	target string
	ttl    time.Duration
}

// alertSeverity is each failure's severity label.
var alertSeverity = map[Trigger]Severity{
	SyncFailed:         Error,
	HealthDegraded:     Error,
	PolicyDenied:       Error,
	VerificationFailed: Error,
	ApprovalMissing:    Warning,
	DriftDetected:      Warning,
}

// resolves lists the failures each success ends. A sync that succeeded
// applied a commit that was verified, approved and allowed, and left the
// cluster as Git says; Deployed also means healthy; a reverted drift ends
// the drift.
var resolves = map[Trigger][]Trigger{
	SyncSucceeded: {SyncFailed, PolicyDenied, VerificationFailed, ApprovalMissing, DriftDetected},
	Deployed:      {SyncFailed, PolicyDenied, VerificationFailed, ApprovalMissing, DriftDetected, HealthDegraded},
	DriftReverted: {DriftDetected},
	Recovered:     {SyncFailed, PolicyDenied, VerificationFailed, ApprovalMissing, DriftDetected, HealthDegraded},
}

// alert is one element of the array POSTed to /api/v2/alerts.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func newAlertmanager(c Config, u *url.URL) (Provider, error) {
	h, err := newHTTPSender(c, u)
	if err != nil {
		return nil, err
	}
	h.auth = bearerOrBasic(c)
	ttl := c.AlertTTL
	if ttl == 0 {
		ttl = DefaultAlertTTL
	}
	base := *u
	base.Path = strings.TrimSuffix(base.Path, "/") + "/api/v2/alerts"
	base.RawPath = ""
	return &alertmanager{http: h, target: base.String(), ttl: ttl}, nil
}

// Send POSTs the message's alerts: the one a failure fires, or those a
// success resolves.
func (a *alertmanager) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(a.alerts(m))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", a.http.kind, a.http.endpoint, err)}
	}
	return a.http.send(ctx, http.MethodPost, a.target, body, nil)
}

// alerts are what m fires or resolves.
func (a *alertmanager) alerts(m Message) []alert {
	at := m.Time
	if at.IsZero() {
		at = a.http.now()
	}
	at = at.UTC()
	annotations := map[string]string{
		"summary":     headline(m),
		"description": summary(m),
		"revision":    m.Revision,
		"ledger":      ledgerRefs(m.Records),
	}
	maps.DeleteFunc(annotations, func(_, v string) bool { return v == "" })
	if ended, ok := resolves[m.Trigger]; ok {
		out := make([]alert, len(ended))
		for i, t := range ended {
			out[i] = alert{Labels: alertLabels(t, m), Annotations: annotations, EndsAt: at, GeneratorURL: m.URL}
		}
		return out
	}
	return []alert{{
		Labels: alertLabels(m.Trigger, m), Annotations: annotations,
		StartsAt: at, EndsAt: at.Add(a.ttl), GeneratorURL: m.URL,
	}}
}

// alertLabels are the labels of trigger's alert for m's Application.
func alertLabels(trigger Trigger, m Message) map[string]string {
	severity, ok := alertSeverity[trigger]
	if !ok {
		severity = Warning // a trigger added without a row here still fires
	}
	labels := map[string]string{
		"alertname":   "Lockstep" + string(trigger),
		"application": m.Application,
		"severity":    string(severity),
	}
	// An empty label is the same as none to Alertmanager; leaving it out
	// keeps the alert's labels readable.
	if m.Namespace != "" {
		labels["namespace"] = m.Namespace
	}
	if m.Project != "" {
		labels["project"] = m.Project
	}
	return labels
}
