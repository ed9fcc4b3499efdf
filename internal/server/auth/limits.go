package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login limits. Each account name may fail loginBurst times in a row, then
// once per loginEvery; all failures together are bounded too, so that
// guessing across many names is as slow and bcrypt cannot eat the CPU.
const (
	loginBurst           = 10
	loginEvery           = 6 * time.Second
	totalLoginBurst      = 50
	totalLoginsPerSecond = 5
	maxTrackedNames      = 10000
)

type loginLimits struct {
	clock func() time.Time
	mu    sync.Mutex
	names map[string]*rate.Limiter // guarded by mu
	total *rate.Limiter
}

func newLoginLimits(clock func() time.Time) *loginLimits {
	return &loginLimits{clock: clock, names: map[string]*rate.Limiter{}, total: rate.NewLimiter(totalLoginsPerSecond, totalLoginBurst)}
}

// allow reports whether a login for name may be tried now.
func (l *loginLimits) allow(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	if lim := l.names[name]; lim != nil && lim.TokensAt(now) < 1 {
		return false
	}
	return l.total.TokensAt(now) >= 1
}

// failed counts a failed login for name.
func (l *loginLimits) failed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	lim := l.names[name]
	if lim == nil {
		if len(l.names) >= maxTrackedNames {
			// Forget everyone rather than grow without bound; the total limit
			// still holds.
			clear(l.names)
		}
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		l.names[name] = lim
	}
	lim.AllowN(now, 1)
	l.total.AllowN(now, 1)
}
