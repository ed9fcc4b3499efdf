package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"k8s.io/apimachinery/pkg/types"
)

// Releaser writes an Application's rollback as a commit (the controller's
// reconcile.Pipeline.Rollback): to is release.Target's input.
type Releaser interface {
	Rollback(ctx context.Context, app *v1.Application, by string, req RollbackRequest) (release.RollbackResult, error)
	// Promote writes app's promotion (spec.promotion); ledger names the
	// source's record of its sync of a revision, "" when unknown.
	Promote(ctx context.Context, app *v1.Application, by string, req PromoteRequest, ledger func(ctx context.Context, source, revision string) string) (release.PromotionResult, error)
}

// PromoteRequest is the body of POST .../promote.
type PromoteRequest struct {
	// Reason, optional, goes into the commit.
	Reason string `json:"reason,omitempty"`
	// DryRun answers what would be written, and writes nothing.
	DryRun bool `json:"dryRun,omitempty"`
}

// RollbackRequest is the body of POST .../rollback.
type RollbackRequest struct {
	// To is "previous", a full commit hash, or a prefix of a revision the
	// Application applied recently.
	To string `json:"to"`
	// Reason says why; the commit, the hold and the ledger keep it.
	Reason string `json:"reason"`
	// Include are folders outside the Application's path that its render
	// reads and that changed since To, to restore knowingly.
	Include []string `json:"include,omitempty"`
	// PathOnly restores the Application's path alone.
	PathOnly bool `json:"pathOnly,omitempty"`
	// DryRun answers what would be written, and writes nothing.
	DryRun bool `json:"dryRun,omitempty"`
}

// HoldRequest is the body of PUT .../hold.
type HoldRequest struct {
	Reason string `json:"reason"`
}

// rollbackApplication writes the rollback commit and holds the
// Application's automation. It changes nothing in the cluster: the commit
// is applied like any other once it reaches the followed branch.
func (s *Server) rollbackApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Releaser == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server writes no rollbacks")}
	}
	var req RollbackRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := release.CheckReason(req.Reason, true); err != nil {
		return badRequest(err)
	}
	if req.To == "" || len(req.To) > 64 {
		return badRequest(errors.New(`to: name the revision to return to ("previous", or a commit hash)`))
	}
	if len(req.Include) > 32 {
		return badRequest(errors.New("include: at most 32 folders"))
	}
	// A rollback renders twice and clones the repository: it takes a
	// preview's slot.
	done, err := s.previewSlot(r.Context(), c.principal.Account())
	if err != nil {
		return err
	}
	defer done()
	res, err := s.d.Releaser.Rollback(r.Context(), c.app.DeepCopy(), actorName(c), req)
	if err != nil {
		return releaseError(err)
	}
	if !res.DryRun {
		// The commit is out: hold the Application even if the caller is gone
		// (or the folders already were as asked: the intent is the same).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		if err := s.patchContext(ctx, c.app, v1.HoldPatch(&res.Hold, actorName(c), s.d.Clock())); err != nil {
			return fmt.Errorf("the rollback commit %s is pushed to %s, but holding %s/%s failed (hold it: lockstep hold): %w", shortHash(res.Commit), res.Branch, c.app.Namespace, c.app.Name, err)
		}
	}
	s.d.Log.Info("API rollback", "application", c.app.Namespace+"/"+c.app.Name, "actor", c.principal.Actor(), "to", res.To, "commit", res.Commit, "branch", res.Branch)
	return writeJSON(w, res)
}

// holdApplication holds the Application's automation, with a reason.
func (s *Server) holdApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	var req HoldRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := release.CheckReason(req.Reason, true); err != nil {
		return badRequest(err)
	}
	hold := &v1.Hold{Reason: req.Reason, By: actorName(c)}
	hold.At.Time = s.d.Clock()
	return s.act(w, r, c, "hold", "", v1.HoldPatch(hold, actorName(c), s.d.Clock()))
}

// releaseApplication clears the hold.
func (s *Server) releaseApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.app.Annotations[v1.AnnotationHold] == "" {
		return conflict("%s/%s is not held", c.app.Namespace, c.app.Name)
	}
	return s.act(w, r, c, "release", "", v1.HoldPatch(nil, actorName(c), s.d.Clock()))
}

// promoteApplication writes the promotion into the Application the path
// names (spec.promotion says from where and what) as a commit. The caller
// must also be allowed to see the source: its values are copied.
func (s *Server) promoteApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Releaser == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server writes no promotions")}
	}
	var req PromoteRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := release.CheckReason(req.Reason, false); err != nil {
		return badRequest(err)
	}
	p := c.app.Spec.Promotion
	if p == nil {
		return &apiError{status: http.StatusUnprocessableEntity, err: fmt.Errorf("%s/%s has no spec.promotion: name the Application it is promoted from and what to copy", c.app.Namespace, c.app.Name)}
	}
	source := &v1.Application{}
	if err := s.d.Apps.Get(r.Context(), types.NamespacedName{Namespace: c.app.Namespace, Name: p.From}, source); err != nil || !c.may(rbac.Applications, rbac.Get, AppObject(source)) {
		return notFound("spec.promotion.from: no Application %s/%s (or you may not see it)", c.app.Namespace, p.From)
	}
	done, err := s.previewSlot(r.Context(), c.principal.Account())
	if err != nil {
		return err
	}
	defer done()
	res, err := s.d.Releaser.Promote(r.Context(), c.app.DeepCopy(), actorName(c), req, s.syncRecordOf)
	if err != nil {
		return releaseError(err)
	}
	s.d.Log.Info("API promotion", "application", c.app.Namespace+"/"+c.app.Name, "actor", c.principal.Actor(), "from", p.From, "revision", res.Revision, "commit", res.Commit, "branch", res.Branch)
	return writeJSON(w, res)
}

// syncRecordOf names the newest successful Sync record of application at
// revision ("#41 <hash>"), "" when the ledger has none.
func (s *Server) syncRecordOf(ctx context.Context, application, revision string) string {
	if s.d.Ledger == nil {
		return ""
	}
	recs, err := s.d.Ledger.Records(ctx, audit.Filter{Application: application, Events: []audit.Event{audit.EventSync}, Limit: 500})
	if err != nil {
		return ""
	}
	for _, r := range recs {
		if r.Revision == revision && r.Result == audit.Succeeded {
			return fmt.Sprintf("#%d %s", r.Seq, r.Hash)
		}
	}
	return ""
}

// releaseError answers a rollback or promotion that wrote nothing: 503 when
// a stage failed for now (the Git server or the API server did not answer:
// try again), else 422 (the request cannot be done as it is).
func releaseError(err error) error {
	var se *pass.StageError
	if errors.As(err, &se) && se.Transient {
		return &apiError{status: http.StatusServiceUnavailable, err: err}
	}
	return &apiError{status: http.StatusUnprocessableEntity, err: err}
}
