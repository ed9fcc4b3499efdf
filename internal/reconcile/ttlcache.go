package reconcile

import (
	"sync"
	"time"
)

// ttlCache remembers values read from the cluster (trusted keys, decryption
// keys) for a short time: every pass needs them, but reading them on every
// pass would cost a request per Application per pass, and a value changed in
// the cluster is seen within the TTL.
type ttlCache[T any] struct {
	mu      sync.Mutex // guards entries
	entries map[string]ttlEntry[T]
}

type ttlEntry[T any] struct {
	value T
	at    time.Time
}

// maxTTLEntries bounds the cache; one entry per key source is typical.
const maxTTLEntries = 1024

// get returns the value remembered for key when younger than ttl, else loads,
// remembers and returns it. Failed loads are not remembered.
func (c *ttlCache[T]) get(key string, now time.Time, ttl time.Duration, load func() (T, error)) (T, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < ttl {
		return e.value, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxTTLEntries {
		c.entries = map[string]ttlEntry[T]{} // crude, but bounded
	}
	c.entries[key] = ttlEntry[T]{value: v, at: now}
	c.mu.Unlock()
	return v, nil
}
