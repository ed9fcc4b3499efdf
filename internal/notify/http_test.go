package notify

import (
	"bytes"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPAnswersAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		retry      bool
		retryAfter time.Duration
	}{
		{"bad request", http.StatusBadRequest, nil, false, 0},
		{"not found", http.StatusNotFound, nil, false, 0},
		{"forbidden", http.StatusForbidden, nil, false, 0},
		{"moved (not followed)", http.StatusMovedPermanently, map[string]string{"Location": "/elsewhere"}, false, 0},
		{"server error", http.StatusInternalServerError, nil, true, 0},
		{"request timeout", http.StatusRequestTimeout, nil, true, 0},
		{"rate limited", http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, true, 7 * time.Second},
		{"unavailable until a date", http.StatusServiceUnavailable, map[string]string{"Retry-After": fixedClock().Add(90 * time.Second).Format(http.TimeFormat)}, true, 90 * time.Second},
		{"unreadable Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "soon"}, true, 0},
		{"huge Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "99999999999999999"}, true, maxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
			})
			p := mustNew(t, Config{Type: Webhook, Address: rc.URL, Now: fixedClock})
			de := deliveryError(t, p.Send(t.Context(), sample()))
			if de.Retry != tc.retry || de.RetryAfter != tc.retryAfter {
				t.Errorf("retry %v after %s, want %v after %s (%v)", de.Retry, de.RetryAfter, tc.retry, tc.retryAfter, de)
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// A webhook's address is a secret (Slack, Teams and Mattermost put the
// token in the path); a receiver may echo it, and Go's errors quote it.
func TestErrorsAndLogsNeverNameTheSecrets(t *testing.T) {
	const pathToken = "T0001/B0002/XyZsecretPathToken42"
	const bearer = "bearer-secret-9f8e7d"
	echo := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("no hook at " + r.URL.String() + " for " + r.Header.Get("Authorization") + " (XyZsecretPathToken42)"))
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct{ name, address string }{
		{"echoing receiver", echo.URL + "/services/" + pathToken + "?key=querysecret123"},
		{"connection refused", closedURL + "/services/" + pathToken + "?key=querysecret123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			opts := fastRetries()
			opts.MaxAttempts = 2
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			outcomes := make(chan Outcome, 1)
			opts.Report = func(o Outcome) { outcomes <- o }
			d := NewDispatcher(opts)
			p := mustNew(t, Config{Type: Webhook, Address: tc.address, Token: bearer, Insecure: true})
			d.Enqueue(Receiver{Name: t.Name(), Provider: p}, sample())
			o := <-outcomes
			_ = d.Close(t.Context())
			if o.Result != Failed || o.Err == nil {
				t.Fatalf("outcome %+v", o)
			}
			host := strings.TrimPrefix(tc.address, "http://")
			host = host[:strings.IndexByte(host, '/')]
			if !strings.Contains(o.Err.Error(), "http://"+host) {
				t.Errorf("the error does not name the receiver's scheme and host: %v", o.Err)
			}
			for _, secret := range []string{pathToken, "XyZsecretPathToken42", "querysecret123", bearer, "/services/"} {
				for what, text := range map[string]string{"error": o.Err.Error(), "log": logs.String()} {
					if strings.Contains(text, secret) {
						t.Errorf("the %s names %q:\n%s", what, secret, text)
					}
				}
			}
		})
	}
}

func TestErrorBodyIsBounded(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(bytes.Repeat([]byte("<html>\x00\r\n"), 200_000))
	})
	p := mustNew(t, Config{Type: Slack, Address: rc.URL + "/hook"})
	err := p.Send(t.Context(), sample())
	if err == nil || len(err.Error()) > 600 || strings.ContainsAny(err.Error(), "\r\n\x00") {
		t.Errorf("error of %d bytes: %q", len(err.Error()), err)
	}
}

func TestInternalCA(t *testing.T) {
	rc := &receiver{}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	rc.StartTLS()
	defer rc.Close()
	pool := rc.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	p := mustNew(t, Config{Type: Webhook, Address: rc.URL + "/hook"})
	de := deliveryError(t, p.Send(t.Context(), sample()))
	if de.Retry || !strings.Contains(de.Error(), "certificate") {
		t.Errorf("without the CA: %v (retry %v), want a certificate error not retried", de, de.Retry)
	}
	if len(rc.requests()) != 0 {
		t.Error("the receiver got the message over a TLS connection that did not verify")
	}

	p = mustNew(t, Config{Type: Webhook, Address: rc.URL + "/hook", RootCAs: pool})
	if err := p.Send(t.Context(), sample()); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if len(rc.requests()) != 1 {
		t.Error("the receiver did not get the message")
	}
}

func TestRedirects(t *testing.T) {
	other := newReceiver(t, nil)
	for _, tc := range []struct {
		name     string
		status   int
		location func(self string) string
		want     string // "" when delivered
	}{
		{"to another host", http.StatusTemporaryRedirect, func(string) string { return other.URL + "/stolen" }, "redirected to " + other.URL},
		{"308 to another host", http.StatusPermanentRedirect, func(string) string { return other.URL + "/stolen" }, "redirected to " + other.URL},
		{"302 that would drop the body", http.StatusFound, func(self string) string { return self + "/moved" }, "302 Found"},
		{"307 on the same host", http.StatusTemporaryRedirect, func(self string) string { return self + "/moved" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var self string
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/moved" {
					return
				}
				w.Header().Set("Location", tc.location(self))
				w.WriteHeader(tc.status)
			})
			self = rc.URL
			before := len(other.requests())
			p := mustNew(t, Config{Type: Webhook, Address: rc.URL + "/hook/secretpath99", Token: "tok-abcdef", Insecure: true})
			err := p.Send(t.Context(), sample())
			if len(other.requests()) != before {
				t.Fatal("the other host got the message")
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := rc.requests()
				if len(got) != 2 || got[1].Path != "/moved" || !bytes.Equal(got[0].Body, got[1].Body) || got[1].Method != http.MethodPost {
					t.Errorf("same-host redirect: %+v", got)
				}
				return
			}
			de := deliveryError(t, err)
			if de.Retry || !strings.Contains(de.Error(), tc.want) || strings.Contains(de.Error(), "stolen") || strings.Contains(de.Error(), "secretpath99") {
				t.Errorf("error %v (retry %v), want %q not retried, naming no path", de, de.Retry, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := fixedClock()
	for v, want := range map[string]time.Duration{
		"":    0,
		"0":   0,
		"-5":  0,
		"120": 2 * time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
		"Wed, 99 Foo 2026":                            0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
