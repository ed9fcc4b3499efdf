package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// providerFunc adapts a function to Provider, for the dispatcher's own
// mechanics (queues, drops, panics); transports are tested with real
// receivers.
type providerFunc func(ctx context.Context, m Message) error

func (f providerFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// collect returns a Report that sends outcomes to a channel, and a
// function that waits for the next one.
func collect(t *testing.T) (func(Outcome), func() Outcome) {
	ch := make(chan Outcome, 100)
	return func(o Outcome) { ch <- o }, func() Outcome {
		t.Helper()
		select {
		case o := <-ch:
			return o
		case <-time.After(20 * time.Second):
			t.Fatal("no outcome within 20s")
			return Outcome{}
		}
	}
}

// freshMetrics drops receiver's series, so that counts start at zero
// however often the test runs (-count).
func freshMetrics(t *testing.T, receiver string) {
	forgetMetrics(receiver)
	t.Cleanup(func() { forgetMetrics(receiver) })
}

func count(receiver string, result string) float64 {
	return testutil.ToFloat64(notifications.WithLabelValues(receiver, result))
}

func TestDispatcherRetriesA500AndDeliversOnce(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	name := t.Name()
	freshMetrics(t, name)
	d.Enqueue(Receiver{Name: name, Provider: mustNew(t, Config{Type: Webhook, Address: rc.URL})}, sample())
	o := next()
	if o.Result != Delivered || o.Attempts != 2 || o.Err != nil {
		t.Fatalf("outcome %+v", o)
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if count(name, "delivered") != 1 || count(name, "retried") != 1 || count(name, "failed") != 0 {
		t.Errorf("counted delivered %v, retried %v, failed %v", count(name, "delivered"), count(name, "retried"), count(name, "failed"))
	}
	if n := testutil.CollectAndCount(deliverySeconds, "lockstep_notification_delivery_duration_seconds"); n == 0 {
		t.Error("no delivery duration observed")
	}
}

func TestDispatcherDoesNotRetryA400(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid payload"}`))
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	freshMetrics(t, t.Name())
	d.Enqueue(Receiver{Name: t.Name(), Provider: mustNew(t, Config{Type: Webhook, Address: rc.URL})}, sample())
	o := next()
	if o.Result != Failed || o.Attempts != 1 || !strings.Contains(o.Err.Error(), "400 Bad Request: {\"error\":\"invalid payload\"}") {
		t.Fatalf("outcome %+v", o)
	}
	if n := len(rc.requests()); n != 1 || count(t.Name(), "failed") != 1 || count(t.Name(), "retried") != 0 {
		t.Errorf("%d requests, failed %v, retried %v", n, count(t.Name(), "failed"), count(t.Name(), "retried"))
	}
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	d.Enqueue(Receiver{Name: t.Name(), Provider: mustNew(t, Config{Type: Slack, Address: rc.URL + "/hook"})}, sample())
	if o := next(); o.Result != Delivered || o.Attempts != 2 {
		t.Fatalf("outcome %+v", o)
	}
	got := rc.requests()
	// The backoff alone would have waited 10-12 ms.
	if gap := got[1].At.Sub(got[0].At); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, before the receiver's Retry-After of 1s", gap)
	}
}

// A Retry-After longer than what is left of MaxElapsed ends the message
// now rather than holding the queue for nothing.
func TestDispatcherGivesUpWhenRetryAfterIsPastTheBudget(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report, opts.MaxElapsed = report, time.Minute
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	d.Enqueue(Receiver{Name: t.Name(), Provider: mustNew(t, Config{Type: Webhook, Address: rc.URL})}, sample())
	if o := next(); o.Result != Failed || o.Attempts != 1 || !strings.Contains(o.Err.Error(), "more than 1m0s after the first") {
		t.Fatalf("outcome %+v", o)
	}
}

// A receiver that never answers: each try is given up on after the
// per-attempt timeout and retried, Enqueue stays instant, and another
// receiver's messages go through meanwhile.
func TestDispatcherHangingReceiverDelaysNoOne(t *testing.T) {
	release := make(chan struct{})
	hanging := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release) // before the server's Close, which waits for handlers
	healthy := newReceiver(t, nil)

	report, next := collect(t)
	opts := fastRetries()
	opts.Report, opts.AttemptTimeout, opts.MaxAttempts, opts.QueueSize = report, 300*time.Millisecond, 2, 2
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	slow := Receiver{Name: t.Name() + "/hanging", Provider: mustNew(t, Config{Type: Webhook, Address: hanging.URL})}
	fast := Receiver{Name: t.Name() + "/healthy", Provider: mustNew(t, Config{Type: Webhook, Address: healthy.URL})}
	freshMetrics(t, slow.Name)

	start := time.Now()
	queued := 0
	for range 5 { // one in flight, two waiting, the rest dropped
		if d.Enqueue(slow, sample()) {
			queued++
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Enqueue took %s: it must never wait for a receiver", took)
	}
	d.Enqueue(fast, sample())

	var drops, delivered int
	var hung []Outcome
	for range 6 {
		o := next()
		switch {
		case o.Result == Dropped:
			drops++
			if !errors.Is(o.Err, ErrQueueFull) {
				t.Errorf("dropped for %v, want a full queue", o.Err)
			}
		case o.Receiver == fast.Name:
			delivered++
			if o.Result != Delivered || len(hung) > 0 {
				t.Errorf("the healthy receiver's message: %s after %d of the hanging one's ended", o.Result, len(hung))
			}
		default:
			hung = append(hung, o)
		}
	}
	if queued < 2 || drops != 5-queued || delivered != 1 || len(hung) != queued {
		t.Fatalf("queued %d, dropped %d, delivered %d, hung %d", queued, drops, delivered, len(hung))
	}
	for _, o := range hung {
		if o.Result != Failed || o.Attempts != 2 || !strings.Contains(o.Err.Error(), "deadline exceeded") {
			t.Errorf("hanging receiver's outcome %+v", o)
		}
	}
	if n := len(hanging.requests()); n != 2*queued {
		t.Errorf("the hanging receiver got %d requests, want %d", n, 2*queued)
	}
	if got := count(slow.Name, "dropped"); got != float64(drops) {
		t.Errorf("counted %v dropped, want %d", got, drops)
	}
}

func TestDispatcherCloseDrainsQueues(t *testing.T) {
	var sent atomic.Int32
	p := providerFunc(func(ctx context.Context, _ Message) error {
		time.Sleep(20 * time.Millisecond)
		sent.Add(1)
		return nil
	})
	d := NewDispatcher(fastRetries())
	for range 5 {
		d.Enqueue(Receiver{Name: t.Name(), Provider: p}, sample())
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sent.Load() != 5 {
		t.Errorf("delivered %d of 5 before Close returned", sent.Load())
	}
	if d.Enqueue(Receiver{Name: t.Name(), Provider: p}, sample()) {
		t.Error("Enqueue after Close queued")
	}
}

func TestDispatcherCloseGivesUpAtItsDeadline(t *testing.T) {
	block := providerFunc(func(ctx context.Context, _ Message) error {
		<-ctx.Done()
		return &DeliveryError{Retry: true, Err: ctx.Err()}
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report, opts.AttemptTimeout = report, time.Minute
	d := NewDispatcher(opts)
	for range 3 {
		d.Enqueue(Receiver{Name: t.Name(), Provider: block}, sample())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want its deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s", took)
	}
	for range 3 {
		if o := next(); o.Result != Dropped || !errors.Is(o.Err, ErrStopped) {
			t.Errorf("outcome %+v, want dropped as stopped", o)
		}
	}
}

func TestDispatcherForget(t *testing.T) {
	started := make(chan struct{}, 1)
	block := providerFunc(func(ctx context.Context, _ Message) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	r := Receiver{Name: t.Name(), Provider: block}
	d.Enqueue(r, sample())
	d.Enqueue(r, sample())
	<-started
	d.Forget(r.Name)
	for range 2 {
		if o := next(); o.Result != Dropped || !errors.Is(o.Err, ErrStopped) {
			t.Errorf("outcome %+v, want dropped as stopped", o)
		}
	}
	// The name can be used again, with a new queue.
	d.Enqueue(Receiver{Name: r.Name, Provider: providerFunc(func(context.Context, Message) error { return nil })}, sample())
	if o := next(); o.Result != Delivered {
		t.Errorf("after Forget: %+v", o)
	}
}

func TestDispatcherSurvivesAPanickingProvider(t *testing.T) {
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	d.Enqueue(Receiver{Name: t.Name(), Provider: providerFunc(func(context.Context, Message) error { panic("boom") })}, sample())
	if o := next(); o.Result != Failed || !strings.Contains(o.Err.Error(), "panicked: boom") {
		t.Errorf("outcome %+v", o)
	}
}

// With one worker, a receiver's messages arrive in the order enqueued,
// even when the first needs a retry.
func TestDispatcherKeepsOrderPerReceiver(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	report, next := collect(t)
	opts := fastRetries()
	opts.Report = report
	d := NewDispatcher(opts)
	defer d.Close(t.Context())
	p := mustNew(t, Config{Type: Alertmanager, Address: rc.URL})
	fire, resolve := sample(), sample()
	resolve.Trigger = SyncSucceeded
	d.Enqueue(Receiver{Name: t.Name(), Provider: p}, fire)
	d.Enqueue(Receiver{Name: t.Name(), Provider: p}, resolve)
	next()
	next()
	got := rc.requests()
	if len(got) != 3 || !strings.Contains(string(got[1].Body), "LockstepSyncFailed") || !strings.Contains(string(got[2].Body), "endsAt") || strings.Contains(string(got[1].Body), "LockstepPolicyDenied") {
		t.Errorf("requests in the wrong order: %d of them", len(got))
	}
}
