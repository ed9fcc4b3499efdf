package auth

import (
	"context"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login limits, charged before the password is compared, for every try,
// failed or not:
//   - each address may try addressBurst times, then once per addressEvery;
//   - each account name, from each address, nameBurst times, then once per
//     nameEvery: guessing one account from one place is slow, and someone
//     elsewhere failing on purpose cannot lock its owner out;
//   - at most as many bcrypt comparisons run at once as there are cores,
//     so a login flood cannot take the CPU from reconciling.
const (
	addressBurst    = 20
	addressEvery    = 3 * time.Second
	nameBurst       = 10
	nameEvery       = 6 * time.Second
	maxTrackedKeys  = 20000
	compareWaitTime = 5 * time.Second
)

type loginLimits struct {
	clock    func() time.Time
	compares chan struct{} // a slot per bcrypt comparison running

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // guarded by mu
}

func newLoginLimits(clock func() time.Time) *loginLimits {
	return &loginLimits{clock: clock, buckets: map[string]*rate.Limiter{}, compares: make(chan struct{}, runtime.NumCPU())}
}

// allow charges one try of name from address, and reports whether it may
// be made now.
func (l *loginLimits) allow(name, address string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) >= maxTrackedKeys {
		// Forget everyone rather than grow without bound.
		clear(l.buckets)
	}
	now := l.clock()
	return l.bucket("addr\x00"+address, addressEvery, addressBurst).AllowN(now, 1) &&
		l.bucket("name\x00"+name+"\x00"+address, nameEvery, nameBurst).AllowN(now, 1)
}

// bucket is the limiter of key, made when missing. l.mu is held.
func (l *loginLimits) bucket(key string, every time.Duration, burst int) *rate.Limiter {
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Every(every), burst)
		l.buckets[key] = b
	}
	return b
}

// compare runs a password comparison in one of the slots, waiting for one
// at most compareWaitTime; ok is false when none came free.
func (l *loginLimits) compare(ctx context.Context, f func() bool) (matched, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, compareWaitTime)
	defer cancel()
	select {
	case l.compares <- struct{}{}:
	case <-ctx.Done():
		return false, false
	}
	defer func() { <-l.compares }()
	return f(), true
}
