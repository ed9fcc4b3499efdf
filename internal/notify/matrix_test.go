package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fastRetries are dispatcher options for tests: short waits, short tries.
func fastRetries() DispatcherOptions {
	return DispatcherOptions{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, AttemptTimeout: 5 * time.Second, MaxAttempts: 4}
}

func TestMatrixSendsAnIdempotentNotice(t *testing.T) {
	const token = "syt_bG9ja3N0ZXA_secrettoken"
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed."}`))
			return
		}
		if n == 1 { // the homeserver stored it, but the answer is lost
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(`{"event_id":"$abc"}`))
	})
	p := mustNew(t, Config{Type: Matrix, Address: rc.URL + "/", Token: token, Room: "!OGEhHVWSdvArJzumhm:matrix.example.org", Insecure: true})

	outcomes := make(chan Outcome, 4)
	opts := fastRetries()
	opts.Report = func(o Outcome) { outcomes <- o }
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	first, second := sample(), sample()
	second.Trigger, second.Severity = SyncSucceeded, Info
	d.Enqueue(Receiver{Name: t.Name(), Provider: p}, first)
	d.Enqueue(Receiver{Name: t.Name(), Provider: p}, second)
	for range 2 {
		if o := <-outcomes; o.Result != Delivered {
			t.Fatalf("outcome %+v", o)
		}
	}

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3 (a retry and a second message)", len(got))
	}
	const prefix = "/_matrix/client/v3/rooms/%21OGEhHVWSdvArJzumhm%3Amatrix.example.org/send/m.room.message/"
	for _, r := range got {
		if r.Method != http.MethodPut || !strings.HasPrefix(r.Path, prefix) {
			t.Errorf("request %s %s, want PUT %s{txnId}", r.Method, r.Path, prefix)
		}
	}
	if got[0].Path != got[1].Path {
		t.Errorf("the retry changed the transaction ID: %s, then %s", got[0].Path, got[1].Path)
	}
	if got[1].Path == got[2].Path {
		t.Error("two messages share a transaction ID")
	}

	var ev map[string]string
	if err := json.Unmarshal(got[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["msgtype"] != "m.notice" || ev["format"] != "org.matrix.custom.html" {
		t.Errorf("event %v", ev)
	}
	for _, want := range []string{"SyncFailed team-a/web at 1a2b3c4", "Ledger: #12, #13", "Approvers: Bob <bob@example.org>, Eve <eve@example.org>", first.URL} {
		if !strings.Contains(ev["body"], want) {
			t.Errorf("body lacks %q:\n%s", want, ev["body"])
		}
	}
	for _, want := range []string{"<strong>SyncFailed team-a/web at 1a2b3c4</strong>", "Bob &lt;bob@example.org&gt;", `<a href="` + first.URL + `">`} {
		if !strings.Contains(ev["formatted_body"], want) {
			t.Errorf("formatted_body lacks %q:\n%s", want, ev["formatted_body"])
		}
	}
}

func TestMatrixWrongTokenIsNotRetried(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN"}`))
	})
	p := mustNew(t, Config{Type: Matrix, Address: rc.URL, Token: "wrong-token-value", Room: "!room:example.org", Insecure: true})
	de := deliveryError(t, p.Send(t.Context(), sample()))
	if de.Retry || !strings.Contains(de.Error(), "401") || !strings.Contains(de.Error(), "M_UNKNOWN_TOKEN") {
		t.Errorf("error %v (retry %v)", de, de.Retry)
	}
}

func TestMatrixRateLimitWaitFromTheBody(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2500}`))
	})
	p := mustNew(t, Config{Type: Matrix, Address: rc.URL, Token: "a-token-value", Room: "!room:example.org", Insecure: true})
	de := deliveryError(t, p.Send(context.Background(), sample()))
	if !de.Retry || de.RetryAfter != 2500*time.Millisecond {
		t.Errorf("retry %v after %s, want true after 2.5s", de.Retry, de.RetryAfter)
	}
}
