package receiver

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// statusWriter records each Receiver's last event in its status, at most
// once per statusDelay: a burst of pushes is one write.
type statusWriter struct {
	c   client.Client
	log *slog.Logger

	mu      sync.Mutex
	pending map[types.NamespacedName]v1.ReceiverEvent // guarded by mu
}

const statusDelay = time.Second

func newStatusWriter(c client.Client, log *slog.Logger) *statusWriter {
	return &statusWriter{c: c, log: log, pending: map[types.NamespacedName]v1.ReceiverEvent{}}
}

func (s *statusWriter) record(key types.NamespacedName, ev v1.ReceiverEvent, at time.Time) {
	ev.Time = metav1.NewTime(at)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, scheduled := s.pending[key]
	s.pending[key] = ev
	if !scheduled {
		time.AfterFunc(statusDelay, func() { s.flush(key) })
	}
}

func (s *statusWriter) flush(key types.NamespacedName) {
	s.mu.Lock()
	ev := s.pending[key]
	delete(s.pending, key)
	s.mu.Unlock()
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"lastEvent": ev}})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcv := &v1.Receiver{}
	rcv.Namespace, rcv.Name = key.Namespace, key.Name
	if err := s.c.Status().Patch(ctx, rcv, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
		s.log.Warn("could not record a Receiver's last event", "receiver", key.String(), "error", err.Error())
	}
}
