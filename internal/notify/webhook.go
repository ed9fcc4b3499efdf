package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WebhookPayload is the JSON body the webhook and webhook-hmac receivers
// get, POSTed with Content-Type: application/json. Every key is always
// present (empty strings and lists rather than missing keys), so that a
// receiver can rely on the shape; Version changes only when a key changes
// meaning or goes away (new keys may appear without it).
//
//	{"version": 1, "id": "5f0c…", "trigger": "SyncFailed", "severity": "error",
//	 "time": "2026-12-01T10:00:00Z", "application": "team-a/web", "project": "team-a",
//	 "cluster": "", "namespace": "web", "repository": "https://git.internal/team-a/web.git",
//	 "revision": "1a2b3c4d…", "author": "Jane <jane@example.org>", "committer": "…",
//	 "subject": "Bump image", "approvers": ["Bob <bob@example.org>"],
//	 "sync": "OutOfSync", "health": "Healthy", "reason": "ApplyFailed",
//	 "summary": "…", "records": [{"seq": 12, "hash": "…"}], "url": "https://lockstep…"}
//
// ID is the same for every try of one message: a receiver that saw it
// already can drop a repeat.
type WebhookPayload struct {
	Version     int         `json:"version"`
	ID          string      `json:"id"`
	Trigger     Trigger     `json:"trigger"`
	Severity    Severity    `json:"severity"`
	Time        time.Time   `json:"time"`
	Application string      `json:"application"`
	Project     string      `json:"project"`
	Cluster     string      `json:"cluster"`
	Namespace   string      `json:"namespace"`
	Repository  string      `json:"repository"`
	Revision    string      `json:"revision"`
	Author      string      `json:"author"`
	Committer   string      `json:"committer"`
	Subject     string      `json:"subject"`
	Approvers   []string    `json:"approvers"`
	Sync        string      `json:"sync"`
	Health      string      `json:"health"`
	Reason      string      `json:"reason"`
	Summary     string      `json:"summary"`
	Records     []RecordRef `json:"records"`
	URL         string      `json:"url"`
}

// WebhookVersion is WebhookPayload's Version.
const WebhookVersion = 1

// The headers of webhook-hmac. The signature covers the timestamp and the
// body, so that a replayed request cannot be given a new time:
//
//	X-Lockstep-Timestamp: 1764583200   (Unix seconds of this try)
//	X-Lockstep-Signature: sha256=<hex HMAC-SHA256(key, "1764583200" + "." + body)>
//
// A receiver recomputes the HMAC over the timestamp header's value, a dot
// and the raw body bytes, compares in constant time, refuses a timestamp
// older than a few minutes, and drops an "id" it has seen.
const (
	SignatureHeader = "X-Lockstep-Signature"
	TimestampHeader = "X-Lockstep-Timestamp"
)

// Sign returns the X-Lockstep-Signature value of body sent at timestamp
// (Unix seconds) with key. Receivers written in Go can use it to check.
func Sign(key []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type webhook struct {
	http    *httpSender
	address string
	key     []byte // nil: unsigned
}

func newWebhook(c Config, u *url.URL) (Provider, error) {
	if c.Type == WebhookHMAC && len(c.HMACKey) < minHMACKey {
		return nil, fmt.Errorf("the HMAC key is shorter than %d bytes (or missing)", minHMACKey)
	}
	h, err := newHTTPSender(c, u)
	if err != nil {
		return nil, err
	}
	h.auth = bearerOrBasic(c)
	w := &webhook{http: h, address: u.String()}
	if c.Type == WebhookHMAC {
		w.key = append([]byte(nil), c.HMACKey...)
	}
	return w, nil
}

// Send POSTs the message as a WebhookPayload.
func (w *webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(newWebhookPayload(m))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: %w", w.http.kind, w.http.endpoint, err)}
	}
	header := http.Header{}
	if w.key != nil {
		ts := w.http.now().Unix()
		header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
		header.Set(SignatureHeader, Sign(w.key, ts, body))
	}
	return w.http.send(ctx, http.MethodPost, w.address, body, header)
}

func newWebhookPayload(m Message) WebhookPayload {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	records := m.Records
	if records == nil {
		records = []RecordRef{}
	}
	return WebhookPayload{
		Version: WebhookVersion, ID: messageID(m),
		Trigger: m.Trigger, Severity: m.Severity, Time: m.Time.UTC(),
		Application: m.Application, Project: m.Project, Cluster: m.Cluster, Namespace: m.Namespace,
		Repository: m.Repository, Revision: m.Revision,
		Author: m.Author, Committer: m.Committer, Subject: m.Subject, Approvers: nonNil(m.Approvers),
		Sync: m.Sync, Health: m.Health, Reason: m.Reason, Summary: m.Summary,
		Records: records, URL: m.URL,
	}
}
