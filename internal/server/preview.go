package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Previewer runs the pipeline up to the plan for an Application, changing
// nothing: the controller's Pipeline.Preview, resolving the ref anew.
type Previewer interface {
	// Preview previews app's followed ref, or revision when it is not nil.
	Preview(ctx context.Context, app *v1.Application, revision *source.Ref) (*pass.Pass, error)
}

// maxPreviews bounds the previews running at once: each fetches and renders,
// which the reconcile loop needs too; one account may run
// maxPreviewsPerCaller, its tokens' included.
const (
	maxPreviews          = 4
	maxPreviewsPerCaller = 2
)

// previewSlot waits for a preview slot for account (the caller's
// auth.Principal.Account: a token's creator), as long as ctx allows.
func (s *Server) previewSlot(ctx context.Context, account string) (release func(), err error) {
	s.mu.Lock()
	if s.previewsBy[account] >= maxPreviewsPerCaller {
		s.mu.Unlock()
		return nil, &apiError{status: http.StatusTooManyRequests, err: fmt.Errorf("you have %d previews running already (your API tokens' included): wait for them", maxPreviewsPerCaller)}
	}
	s.previewsBy[account]++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if s.previewsBy[account]--; s.previewsBy[account] <= 0 {
			delete(s.previewsBy, account)
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
// should be pinned to, the verdicts, and every step with its diff. With
// ?revision=BRANCH|COMMIT it previews that revision instead (applications
// preview): what merging it would do, and which checks it still fails.
func (s *Server) previewApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Previewer == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server previews no Applications")}
	}
	var revision *source.Ref
	if q := r.URL.Query(); q.Has("revision") {
		if len(q["revision"]) > 1 {
			return badRequest(errors.New("give one revision"))
		}
		ref, err := source.ParseRevision(q.Get("revision"))
		if err != nil {
			return badRequest(err)
		}
		if !c.may(rbac.Applications, rbac.Preview, c.object) {
			return forbidden("permission denied: applications preview %s (a revision other than the one it follows)", c.object)
		}
		revision = &ref
	}
	release, err := s.previewSlot(r.Context(), c.principal.Account())
	if err != nil {
		return err
	}
	defer release()
	p, err := s.d.Previewer.Preview(r.Context(), c.app.DeepCopy(), revision)
	if p == nil {
		return err
	}
	pv, err := pass.NewPreview(p)
	if err != nil {
		return err
	}
	return writeJSON(w, pv)
}
