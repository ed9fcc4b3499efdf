package kube

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusPatcher merges fields into objects' status in the background, at
// most once per Delay for each object: a burst of events (pushes, deliveries)
// is one write, the last values winning. For status that reports activity,
// where a write per event would load the API server.
type StatusPatcher struct {
	Client client.Client
	// New returns an empty object of the patched kind.
	New   func() client.Object
	Delay time.Duration
	Log   *slog.Logger

	mu      sync.Mutex
	pending map[types.NamespacedName]map[string]any // guarded by mu
}

// Patch sets fields of key's status (status.<field> = value) within Delay.
func (s *StatusPatcher) Patch(key types.NamespacedName, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[types.NamespacedName]map[string]any{}
	}
	pending, scheduled := s.pending[key]
	if !scheduled {
		pending = map[string]any{}
		s.pending[key] = pending
		time.AfterFunc(s.Delay, func() { s.flush(key) })
	}
	for k, v := range fields {
		pending[k] = v
	}
}

func (s *StatusPatcher) flush(key types.NamespacedName) {
	s.mu.Lock()
	fields := s.pending[key]
	delete(s.pending, key)
	s.mu.Unlock()
	patch, err := json.Marshal(map[string]any{"status": fields})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obj := s.New()
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	if err := s.Client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
		s.Log.Warn("could not write a status", "object", key.String(), "error", err.Error())
	}
}
