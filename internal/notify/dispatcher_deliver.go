package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// work delivers q's messages until q is closed and empty.
func (d *Dispatcher) work(q *queue) {
	defer d.wg.Done()
	defer q.done.Done()
	for j := range q.jobs {
		d.deliver(q, j)
	}
}

// deliver tries j until it is delivered, refused, out of tries or out of
// time, or q's context ends.
func (d *Dispatcher) deliver(q *queue, j job) {
	o := d.opts
	backoff := wait.Backoff{Duration: o.InitialBackoff, Factor: 2, Jitter: 0.2, Cap: o.MaxBackoff, Steps: math.MaxInt32}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		if q.ctx.Err() != nil {
			d.finish(q.name, j.msg, Dropped, attempt-1, ErrStopped, start)
			return
		}
		err := d.try(q.ctx, j)
		if err == nil {
			d.finish(q.name, j.msg, Delivered, attempt, nil, start)
			return
		}
		var de *DeliveryError
		if !errors.As(err, &de) {
			// A Provider that does not say: an unknown failure may pass.
			de = &DeliveryError{Retry: true, Err: err}
		}
		delay := max(backoff.Step(), de.RetryAfter)
		switch {
		case q.ctx.Err() != nil:
			d.finish(q.name, j.msg, Dropped, attempt, fmt.Errorf("%w: %w", ErrStopped, err), start)
			return
		case !de.Retry:
			d.finish(q.name, j.msg, Failed, attempt, err, start)
			return
		case attempt >= o.MaxAttempts:
			d.finish(q.name, j.msg, Failed, attempt, fmt.Errorf("giving up after %d tries: %w", attempt, err), start)
			return
		case time.Since(start)+delay > o.MaxElapsed:
			d.finish(q.name, j.msg, Failed, attempt, fmt.Errorf("giving up: the next try would start more than %s after the first: %w", o.MaxElapsed, err), start)
			return
		}
		notifications.WithLabelValues(q.name, resultRetried).Inc()
		d.log(slog.LevelWarn, "notification failed, trying again", q.name, j.msg, attempt, err, slog.Duration("retryIn", delay))
		if !sleep(q.ctx, delay) {
			d.finish(q.name, j.msg, Dropped, attempt, fmt.Errorf("%w: %w", ErrStopped, err), start)
			return
		}
	}
}

// try is one attempt, given up on after AttemptTimeout. A Provider that
// panics fails the attempt instead of the controller.
func (d *Dispatcher) try(ctx context.Context, j job) (err error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.AttemptTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = &DeliveryError{Err: fmt.Errorf("the provider panicked: %v", r)}
		}
	}()
	err = j.provider.Send(ctx, j.msg)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The provider may have reported only what the cut made (a closed
		// connection): say it timed out, and that this may pass.
		err = &DeliveryError{Retry: true, Err: fmt.Errorf("%w after %s: %w", ctx.Err(), d.opts.AttemptTimeout, err)}
	}
	return err
}

// finish counts, logs and reports a message's fate; started is its first
// try (zero when it never had one).
func (d *Dispatcher) finish(receiver string, m Message, result Result, attempts int, err error, started time.Time) {
	notifications.WithLabelValues(receiver, string(result)).Inc()
	if !started.IsZero() {
		deliverySeconds.WithLabelValues(receiver).Observe(time.Since(started).Seconds())
	}
	switch result {
	case Delivered:
		d.log(slog.LevelDebug, "notification delivered", receiver, m, attempts, nil)
	case Failed:
		d.log(slog.LevelError, "notification failed", receiver, m, attempts, err)
	case Dropped:
		d.log(slog.LevelWarn, "notification dropped", receiver, m, attempts, err)
	}
	if d.opts.Report != nil {
		d.opts.Report(Outcome{Receiver: receiver, Message: m, Result: result, Attempts: attempts, Err: err})
	}
}

// log writes one line naming the receiver, the message and the attempt.
// Errors come from providers, which name only the receiver's scheme and
// host.
func (d *Dispatcher) log(level slog.Level, msg, receiver string, m Message, attempt int, err error, extra ...any) {
	args := []any{
		slog.String("receiver", receiver), slog.String("trigger", string(m.Trigger)),
		slog.String("application", m.Application), slog.Int("attempt", attempt),
	}
	if err != nil {
		args = append(args, slog.String("error", err.Error()))
	}
	d.opts.Logger.Log(d.ctx, level, msg, append(args, extra...)...)
}

// sleep waits for d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
