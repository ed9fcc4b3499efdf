package receiver

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// defaultFollowUps are when a push's Applications are looked at again if they did
// not see its commit: a Git server whose mirrors or replicas lag sends the
// event before a fetch sees the commit, and that fetch would otherwise count
// as fresh until the next interval.
var defaultFollowUps = []time.Duration{2 * time.Second, 5 * time.Second, 15 * time.Second}

// followUp refreshes, after each of r.followUps, the Applications of byURL that
// have not seen the pushed commit yet; it stops when all have. Only for
// branches: a tag's event names the tag object, not the commit the
// Applications see.
func (r *Receivers) followUp(ev webhook.Event, byURL map[string][]*v1.Application) {
	if ev.Commit == "" || !strings.HasPrefix(ev.Ref, "refs/heads/") || len(byURL) == 0 {
		return
	}
	keys := map[string][]types.NamespacedName{}
	for url, apps := range byURL {
		for _, app := range apps {
			keys[url] = append(keys[url], types.NamespacedName{Namespace: app.Namespace, Name: app.Name})
		}
	}
	delays := r.followUps
	var next func(step int)
	next = func(step int) {
		if step >= len(delays) {
			return
		}
		time.AfterFunc(delays[step], func() {
			if r.behind(ev.Commit, keys) {
				next(step + 1)
			}
		})
	}
	next(0)
}

// behind refreshes the Applications that have not seen commit, and says
// whether there were any.
func (r *Receivers) behind(commit string, keys map[string][]types.NamespacedName) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	behind := false
	for url, names := range keys {
		var late []*v1.Application
		for _, key := range names {
			app := &v1.Application{}
			if err := r.o.Client.Get(ctx, key, app); err != nil {
				continue // gone
			}
			if app.Status.Sync.Revision != commit {
				late = append(late, app)
			}
		}
		if len(late) == 0 {
			continue
		}
		behind = true
		if err := r.o.Refresher.Refresh(ctx, url, r.o.Clock(), late); err != nil {
			r.o.Log.Warn("could not look again for a pushed commit", "commit", commit, "error", err.Error())
		}
	}
	return behind
}
