package server

import (
	"context"
	"errors"
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
// which the reconcile loop needs too.
const maxPreviews = 4

// previewApplication answers what a sync would do now: the commit a sync
// should be pinned to, the verdicts, and every step with its diff.
func (s *Server) previewApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Previewer == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server previews no Applications")}
	}
	select {
	case s.previews <- struct{}{}:
		defer func() { <-s.previews }()
	case <-r.Context().Done():
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("too many previews are running: try again shortly")}
	}
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
