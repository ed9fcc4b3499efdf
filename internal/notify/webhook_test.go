package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWebhookSendsTheDocumentedShape(t *testing.T) {
	rc := newReceiver(t, nil)
	p := mustNew(t, Config{Type: Webhook, Address: rc.URL + "/hooks/lockstep", Token: "tok-123", Insecure: true})
	if err := p.Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.Method != "POST" || r.Path != "/hooks/lockstep" {
		t.Errorf("request %s %s, want POST /hooks/lockstep", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if a := r.Header.Get("Authorization"); a != "Bearer tok-123" {
		t.Errorf("Authorization %q, want the bearer token", a)
	}
	if r.Header.Get(SignatureHeader) != "" {
		t.Errorf("an unsigned webhook sent %s", SignatureHeader)
	}

	// Every key is present, lowercase, whatever the message leaves empty.
	var keys map[string]any
	if err := json.Unmarshal(r.Body, &keys); err != nil {
		t.Fatal(err)
	}
	want := []string{"version", "id", "trigger", "severity", "time", "application", "project", "cluster", "namespace",
		"repository", "revision", "author", "committer", "subject", "approvers", "sync", "health", "reason", "summary", "records", "url"}
	if diff := cmp.Diff(sortedStrings(want), slices.Sorted(maps.Keys(keys))); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}

	var payload WebhookPayload
	if err := json.Unmarshal(r.Body, &payload); err != nil {
		t.Fatal(err)
	}
	m := sample()
	wantPayload := WebhookPayload{
		Version: 1, ID: messageID(m), Trigger: SyncFailed, Severity: Error, Time: m.Time,
		Application: "team-a/web", Project: "team-a", Namespace: "web", Repository: m.Repository,
		Revision: m.Revision, Author: m.Author, Committer: m.Committer, Subject: m.Subject, Approvers: m.Approvers,
		Sync: "OutOfSync", Health: "Healthy", Reason: "ApplyFailed", Summary: m.Summary, Records: m.Records, URL: m.URL,
	}
	if diff := cmp.Diff(wantPayload, payload); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestWebhookPayloadOfAnEmptyMessageHasListsNotNulls(t *testing.T) {
	b, err := json.Marshal(newWebhookPayload(Message{Trigger: Deployed}))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	for _, k := range []string{"approvers", "records"} {
		if _, ok := keys[k].([]any); !ok {
			t.Errorf("%s is %v, want []", k, keys[k])
		}
	}
}

func TestWebhookHMACSignsTimestampAndBody(t *testing.T) {
	key := []byte("0123456789abcdef-key")
	rc := newReceiver(t, nil)
	p := mustNew(t, Config{Type: WebhookHMAC, Address: rc.URL, HMACKey: key, Now: fixedClock})
	if err := p.Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	ts := r.Header.Get(TimestampHeader)
	if ts != strconv.FormatInt(fixedClock().Unix(), 10) {
		t.Errorf("%s %q, want the clock's Unix seconds", TimestampHeader, ts)
	}
	// What a receiver does, written out: HMAC-SHA256(key, timestamp "." body).
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts + "." + string(r.Body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get(SignatureHeader); got != want {
		t.Errorf("%s %q, want %q", SignatureHeader, got, want)
	}
	// Another timestamp does not verify.
	if Sign(key, fixedClock().Unix()+60, r.Body) == want {
		t.Error("the signature does not depend on the timestamp")
	}
}

func sortedStrings(s []string) []string { return slices.Sorted(slices.Values(s)) }
