package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// blockingPreviewer holds every preview until its request ends, and says
// on started when one begins.
type blockingPreviewer struct{ started chan struct{} }

func (p blockingPreviewer) Preview(ctx context.Context, _ *v1.Application, _ *source.Ref) (*pass.Pass, error) {
	select {
	case p.started <- struct{}{}:
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// Previews running at once are limited per account: the tokens someone
// creates share that person's two, so they cannot take every slot.
func TestPreviewsCountByAccount(t *testing.T) {
	previewer := blockingPreviewer{started: make(chan struct{})}
	f := newAPIWith(t, func(d *server.Deps) { d.Previewer = previewer })
	dev := f.as(t, "dev")
	one, two, three := newToken(t, f, dev, "one").Token, newToken(t, f, dev, "two").Token, newToken(t, f, dev, "three").Token
	// preview starts a preview as cred; its answer comes on the channel.
	preview := func(cred string) <-chan int {
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		answer := make(chan int, 1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+server.PathApplications+"/team/web/preview", nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answer <- 0 // cancelled while running
				return
			}
			resp.Body.Close()
			answer <- resp.StatusCode
		}()
		return answer
	}
	for _, cred := range []string{one, two} { // dev's two, each with a token
		preview(cred)
		select {
		case <-previewer.started:
		case <-time.After(5 * time.Second):
			t.Fatal("a preview did not start")
		}
	}
	for _, tc := range []struct {
		name string
		cred string
		runs bool // else refused with 429
	}{
		{"a third with another of dev's tokens", three, false},
		{"a third with dev's session", dev, false},
		{"one of someone else's", f.as(t, "viewer"), true},
	} {
		want := "429"
		if tc.runs {
			want = "it to run"
		}
		answer := preview(tc.cred)
		select {
		case <-previewer.started:
			if !tc.runs {
				t.Errorf("%s: it runs; want %s", tc.name, want)
			}
		case code := <-answer:
			if tc.runs || code != http.StatusTooManyRequests {
				t.Errorf("%s: %d; want %s", tc.name, code, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: neither ran nor answered", tc.name)
		}
	}
}
