package controller

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// probes answer the kubelet on the metrics port: /healthz while the process
// serves, /readyz once the manager's caches have synced (on every replica,
// the leader or not: a standby is ready to take over).
type probes struct {
	cache atomic.Pointer[cache.Cache]
}

func (p *probes) handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/healthz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		"/readyz":  http.HandlerFunc(p.ready),
	}
}

func (p *probes) ready(w http.ResponseWriter, r *http.Request) {
	c := p.cache.Load()
	if c == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 200*time.Millisecond)
	defer cancel()
	if !(*c).WaitForCacheSync(ctx) {
		http.Error(w, "caches not synced yet", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
