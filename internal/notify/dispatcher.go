package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Dispatcher delivers messages in the background. Each receiver has its
// own bounded queue and its own worker, so a receiver that hangs or fails
// delays only its own messages; Enqueue never blocks (a full queue drops
// the message and counts it).
//
// What it guarantees: a message is delivered at least once or counted as
// failed or dropped (at least once: a receiver that took a message but
// whose answer was lost gets it again, with the same Matrix transaction
// ID, webhook "id" and Message-ID, so that it can drop the repeat).
// With one worker per receiver (the default) a receiver's messages are
// delivered in the order they were enqueued, a message being retried
// holding back the ones after it; so an alert's resolution never
// overtakes its firing. With more workers there is no order.
type Dispatcher struct {
	opts DispatcherOptions
	// ctx ends every worker's tries and waits; cancel is called by Close
	// when its ctx ends before the queues are drained.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the workers

	mu     sync.Mutex
	queues map[string]*queue // guarded by mu
	closed bool              // guarded by mu
}

// DispatcherOptions configure a Dispatcher. The retry policy: try up to
// MaxAttempts times, waiting InitialBackoff, then twice as long each time
// (plus up to 20% jitter, so that receivers that failed together are not
// retried together) up to MaxBackoff, or longer when the receiver asked
// for it (Retry-After); give up earlier when the next try would start
// more than MaxElapsed after the first, or when the receiver refused the
// message (DeliveryError.Retry false). Each try is given up on after
// AttemptTimeout.
type DispatcherOptions struct {
	// QueueSize is how many messages wait for each receiver.
	QueueSize int
	// Workers is how many messages one receiver gets at once. With one,
	// its messages arrive in order.
	Workers int

	MaxAttempts    int
	AttemptTimeout time.Duration
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	MaxElapsed     time.Duration

	// Logger gets a line for each retry, failure and drop (nil: none).
	Logger *slog.Logger
	// Report, when set, is told every message's fate: its caller writes a
	// Notification's last delivery and failure. It runs on the receiver's
	// worker (or in Enqueue, for a drop): it must be quick and must not
	// call Enqueue.
	Report func(Outcome)
}

// DefaultDispatcherOptions are the options a zero field takes: at most
// 6 tries over at most 5 minutes, waits of 1 s, 2 s, 4 s, 8 s and 16 s
// (each up to 20% longer), 10 s a try.
func DefaultDispatcherOptions() DispatcherOptions {
	return DispatcherOptions{
		QueueSize:      100,
		Workers:        1,
		MaxAttempts:    6,
		AttemptTimeout: 10 * time.Second,
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		MaxElapsed:     5 * time.Minute,
	}
}

// Receiver is where messages go. Name identifies it in queues, metrics and
// logs (a Notification's "namespace/name"); Provider delivers to it. The
// Provider travels with each message, so a receiver whose configuration
// changed gets its next messages with the new one.
type Receiver struct {
	Name     string
	Provider Provider
}

// Result is a message's fate.
type Result string

// The results.
const (
	Delivered Result = "delivered" // the receiver took it
	Failed    Result = "failed"    // refused, or out of tries
	Dropped   Result = "dropped"   // the queue was full, the receiver forgotten, or the dispatcher closed
)

// resultRetried counts, in lockstep_notifications_total, each try that
// failed and is tried again; it is not a message's fate.
const resultRetried = "retried"

// Outcome is one message's fate, for Report.
type Outcome struct {
	Receiver string
	Message  Message
	Result   Result
	Attempts int   // tries made (0 when dropped before any)
	Err      error // why it failed or was dropped; nil when delivered
}

// queue is one receiver's: its messages and the end of its workers.
type queue struct {
	name   string
	jobs   chan job
	ctx    context.Context // ends when the receiver is forgotten or the dispatcher cancelled
	cancel context.CancelFunc
	done   sync.WaitGroup // its workers
}

type job struct {
	provider Provider
	msg      Message
}

// Errors of messages dropped before delivery.
var (
	ErrQueueFull = errors.New("the receiver's queue is full: it is slower than messages come")
	ErrClosed    = errors.New("the dispatcher is closed")
	ErrStopped   = errors.New("delivery stopped before the message was delivered: the receiver was forgotten, or Close's deadline passed")
)

// NewDispatcher returns a Dispatcher with opts; zero options take their
// defaults. Close it to stop its workers.
func NewDispatcher(opts DispatcherOptions) *Dispatcher {
	opts = opts.withDefaults()
	// The workers outlive any one caller's request: their context is the
	// dispatcher's own, and Close (with the caller's deadline) ends it.
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{opts: opts, ctx: ctx, cancel: cancel, queues: map[string]*queue{}}
}

func (o DispatcherOptions) withDefaults() DispatcherOptions {
	def := DefaultDispatcherOptions()
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&o.QueueSize, def.QueueSize)
	set(&o.Workers, def.Workers)
	set(&o.MaxAttempts, def.MaxAttempts)
	setD(&o.AttemptTimeout, def.AttemptTimeout)
	setD(&o.InitialBackoff, def.InitialBackoff)
	setD(&o.MaxBackoff, def.MaxBackoff)
	setD(&o.MaxElapsed, def.MaxElapsed)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Enqueue hands m to r's queue and returns at once: true when queued,
// false when dropped (the queue is full, or the dispatcher closed).
func (d *Dispatcher) Enqueue(r Receiver, m Message) bool {
	d.mu.Lock()
	queued, err := false, ErrClosed
	if !d.closed {
		select {
		case d.queueOf(r.Name).jobs <- job{provider: r.Provider, msg: m}:
			queued = true
		default:
			err = ErrQueueFull
		}
	}
	d.mu.Unlock()
	if !queued {
		d.finish(r.Name, m, Dropped, 0, err, time.Time{})
	}
	return queued
}

// queueOf returns name's queue, starting it on first use. d.mu is held.
func (d *Dispatcher) queueOf(name string) *queue {
	if q, ok := d.queues[name]; ok {
		return q
	}
	q := &queue{name: name, jobs: make(chan job, d.opts.QueueSize)}
	q.ctx, q.cancel = context.WithCancel(d.ctx)
	d.queues[name] = q
	for range d.opts.Workers {
		d.wg.Add(1)
		q.done.Add(1)
		go d.work(q)
	}
	return q
}

// Forget stops delivering to the receiver named (its Notification was
// deleted): the message being tried and those waiting are dropped, and
// its metrics' series are removed once its workers end.
func (d *Dispatcher) Forget(name string) {
	d.mu.Lock()
	q, ok := d.queues[name]
	if ok {
		delete(d.queues, name)
		q.cancel()
		if !d.closed { // Close closed it already
			close(q.jobs)
		}
	}
	d.mu.Unlock()
	if !ok {
		return
	}
	go func() {
		q.done.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, again := d.queues[name]; !again { // not enqueued to anew meanwhile
			forgetMetrics(name)
		}
	}()
}

// Close stops taking messages and delivers those queued, retries included,
// until ctx ends; then it gives up on the rest (counted as dropped) and
// returns ctx's error. Enqueue after Close drops.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, q := range d.queues {
			close(q.jobs)
		}
	}
	d.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel() // tries and waits end at once; what is left is dropped
		<-drained
		return ctx.Err()
	}
}
