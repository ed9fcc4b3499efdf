package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// SyncRequest is the body of POST .../sync.
type SyncRequest struct {
	// Revision is the commit the caller previewed (as the list or the preview
	// showed it: status.sync.revision). The sync applies that commit or
	// nothing: if the ref moved on since, it is refused.
	Revision string `json:"revision"`
	// Generation, when not 0, is the Application's metadata.generation the
	// caller previewed: if its spec changed since, the sync is refused.
	Generation int64 `json:"generation,omitempty"`
}

// ActionResult is the answer to an action: what was asked, by whom, and
// the request to wait for (status.lastHandledSyncRequest for a sync; none
// for a resource action, which is done when it is answered).
type ActionResult struct {
	Action      string `json:"action"`
	Application string `json:"application"`
	Actor       string `json:"actor"`
	Request     string `json:"request,omitempty"`
}

var commitHash = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

func (s *Server) syncApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	var req SyncRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !commitHash.MatchString(req.Revision) {
		return badRequest(errors.New("revision: give the commit you previewed (status.sync.revision), 7 to 64 lower-case hex digits"))
	}
	newest := c.app.Status.Sync.Revision
	if newest == "" {
		return conflict("%s/%s has not resolved its ref yet: refresh, preview, then sync", c.app.Namespace, c.app.Name)
	}
	if !strings.HasPrefix(newest, req.Revision) {
		return conflict("the newest commit of %s/%s is %s, not %s: preview it, then sync that", c.app.Namespace, c.app.Name, shortHash(newest), req.Revision)
	}
	if req.Generation < 0 || (req.Generation != 0 && req.Generation != c.app.Generation) {
		return conflict("%s/%s's spec is at generation %d, not %d: preview it again, then sync", c.app.Namespace, c.app.Name, c.app.Generation, req.Generation)
	}
	request := v1.SyncRequestValue(actorName(c), s.d.Clock(), newest, req.Generation)
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1.AnnotationSyncRequestedBy: request}}}
	return s.act(w, r, c, "sync", request, patch)
}

func (s *Server) refreshApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.manual(w, r, c, "refresh")
}

func (s *Server) suspendApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.manual(w, r, c, "suspend")
}

func (s *Server) resumeApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.manual(w, r, c, "resume")
}

// manual requests a manual action on the Application the path names.
func (s *Server) manual(w http.ResponseWriter, r *http.Request, c *call, action string) error {
	patch, request := v1.ManualActionPatch(action, actorName(c), s.d.Clock())
	return s.act(w, r, c, action, request, patch)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, c *call, action, request string, patch map[string]any) error {
	if err := s.patch(r, c.app, patch); err != nil {
		return fmt.Errorf("%s of %s/%s: %w", action, c.app.Namespace, c.app.Name, err)
	}
	name := c.app.Namespace + "/" + c.app.Name
	s.d.Log.Info("API action", "action", action, "application", name, "actor", c.principal.Actor())
	return writeJSONStatus(w, http.StatusAccepted, ActionResult{Action: action, Application: name, Actor: c.principal.Actor(), Request: request})
}

// patch merge-patches an Application as the controller.
func (s *Server) patch(r *http.Request, a *v1.Application, patch map[string]any) error {
	return s.patchContext(r.Context(), a, patch)
}

// patchContext is patch with its own context.
func (s *Server) patchContext(ctx context.Context, a *v1.Application, patch map[string]any) error {
	if s.d.Writer == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server changes no Applications")}
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	app := &v1.Application{}
	app.Namespace, app.Name = a.Namespace, a.Name
	return s.d.Writer.Patch(ctx, app, client.RawPatch(types.MergePatchType, body))
}

// actorName is the caller as annotations name them: no spaces, which the
// controller reads as separators.
func actorName(c *call) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, c.principal.Actor())
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
