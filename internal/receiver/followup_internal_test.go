package receiver

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

type countingRefresher struct {
	mu    sync.Mutex
	calls []int // Applications refreshed, per call
}

func (c *countingRefresher) Inputs(types.NamespacedName) ([]string, bool) { return nil, false }

func (c *countingRefresher) Refresh(_ context.Context, _ string, _ time.Time, apps []*v1.Application) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, len(apps))
	return nil
}

func (c *countingRefresher) count() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.calls...)
}

// An Application that has not seen the pushed commit is looked at again (a
// lagging mirror), until it has, at most len(followUps) times.
func TestFollowUpsUntilTheCommitIsSeen(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = v1.AddToScheme(scheme)
	late := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "late"}}
	late.Status.Sync.Revision = "old"
	seen := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "seen"}}
	seen.Status.Sync.Revision = "abc"
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(late, seen).WithStatusSubresource(late, seen).Build()
	refresher := &countingRefresher{}
	r, err := New(Options{Client: c, Refresher: refresher, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.followUps = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	push := webhook.Event{Ref: "refs/heads/main", Commit: "abc"}
	r.followUp(push, map[string][]*v1.Application{"https://git/app.git": {late, seen}})
	time.Sleep(300 * time.Millisecond)
	if got := refresher.count(); len(got) != 3 || got[0] != 1 {
		t.Errorf("refreshes %v, want 3 of the one Application that had not seen the commit", got)
	}

	// Once seen, no more; and a tag's event is not followed up.
	refresher.mu.Lock()
	refresher.calls = nil
	refresher.mu.Unlock()
	r.followUp(push, map[string][]*v1.Application{"https://git/app.git": {seen}})
	r.followUp(webhook.Event{Ref: "refs/tags/v1", Commit: "tagobject"}, map[string][]*v1.Application{"https://git/app.git": {late}})
	time.Sleep(200 * time.Millisecond)
	if got := refresher.count(); len(got) != 0 {
		t.Errorf("refreshes %v, want none", got)
	}
}
