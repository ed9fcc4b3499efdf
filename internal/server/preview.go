package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
)

// Previewer runs the pipeline up to the plan for an Application, changing
// nothing: the controller's Pipeline.Preview, resolving the ref anew.
type Previewer interface {
	Preview(ctx context.Context, app *v1.Application) (*pass.Pass, error)
}

// maxPreviews bounds the previews running at once: each fetches and renders,
// which the reconcile loop needs too; one caller may run maxPreviewsPerCaller.
const (
	maxPreviews          = 4
	maxPreviewsPerCaller = 2
)

// previewSlot waits for a preview slot for who, as long as ctx allows.
func (s *Server) previewSlot(ctx context.Context, who string) (release func(), err error) {
	s.mu.Lock()
	if s.previewsBy[who] >= maxPreviewsPerCaller {
		s.mu.Unlock()
		return nil, &apiError{status: http.StatusTooManyRequests, err: fmt.Errorf("you have %d previews running already: wait for them", maxPreviewsPerCaller)}
	}
	s.previewsBy[who]++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if s.previewsBy[who]--; s.previewsBy[who] <= 0 {
			delete(s.previewsBy, who)
		}
		s.mu.Unlock()
	}
	select {
	case s.previews <- struct{}{}:
		return func() { <-s.previews; done() }, nil
	case <-ctx.Done():
		done()
		return nil, &apiError{status: http.StatusServiceUnavailable, err: errors.New("too many previews are running: try again shortly")}
	}
}

// previewApplication answers what a sync would do now: the commit a sync
// should be pinned to, the verdicts, and every step with its diff.
func (s *Server) previewApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Previewer == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server previews no Applications")}
	}
	release, err := s.previewSlot(r.Context(), c.principal.Actor())
	if err != nil {
		return err
	}
	defer release()
	p, err := s.d.Previewer.Preview(r.Context(), c.app.DeepCopy())
	if p == nil {
		return err
	}
	pv, err := pass.NewPreview(p)
	if err != nil {
		return err
	}
	return writeJSON(w, pv)
}
