package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// resourceActions are the actions on an Application's objects, by name, with
// the kinds each applies to.
var resourceActions = map[string][]string{
	"restart": {"apps/Deployment", "apps/StatefulSet", "apps/DaemonSet"},
}

// resourceActionOf is the RBAC action of POST .../resource/actions/{action}:
// action/<group>/<kind>/<action> of the object the query names.
func resourceActionOf(r *http.Request) (rbac.Action, error) {
	key, err := resourceKey(r.URL.Query())
	if err != nil {
		return "", err
	}
	name := r.PathValue("action")
	kinds, ok := resourceActions[name]
	if !ok {
		return "", fmt.Errorf("no resource action %q (there is: restart)", name)
	}
	for _, k := range kinds {
		if k == key.Group+"/"+key.Kind {
			return rbac.ResourceAction(key.Group, key.Kind, name), nil
		}
	}
	return "", fmt.Errorf("%s applies to %v, not %s", name, kinds, key.Group+"/"+key.Kind)
}

// resourceActionsOn lists the resource actions that apply to the object's
// kind and that the caller may run on the call's Application.
func (c *call) resourceActionsOn(key object.Key) []string {
	var out []string
	for name, kinds := range resourceActions {
		if slices.Contains(kinds, key.Group+"/"+key.Kind) && c.may(rbac.Applications, rbac.ResourceAction(key.Group, key.Kind, name), AppObject(c.app)) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// resourceAction runs an action on one managed object of the Application and
// records it in the ledger with the caller as actor.
func (s *Server) resourceAction(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Cluster == nil || s.d.Recorder == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server changes no cluster objects")}
	}
	key, _ := resourceKey(r.URL.Query())
	node, err := s.inTree(r.Context(), c.app, key)
	if err != nil {
		return err
	}
	if !node.Managed {
		return badRequest(fmt.Errorf("%s is not one of the Application's own objects", key))
	}
	now := s.d.Clock()
	rec := audit.Record{Event: audit.EventAction, Application: c.app.Namespace + "/" + c.app.Name, Project: ProjectOf(c.app),
		Namespace: c.app.Spec.Destination.Namespace, Actor: c.principal.Actor(), Result: audit.Succeeded, Message: "restart " + key.String(),
		Changes: []audit.Change{{Group: key.Group, Version: node.Version, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name, Action: audit.Update,
			Fields: []audit.FieldChange{{Path: "spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt", To: strconv.Quote(now.UTC().Format(time.RFC3339))}}}}}
	// Recorded before it is done: a ledger that cannot take the record
	// (a full disk, a read-only database) restarts nothing. The cause is
	// logged, not answered: it may name the database's host and user.
	if _, err := s.d.Recorder.Append(r.Context(), rec); err != nil {
		s.d.Log.Error("API resource action not recorded", "action", "restart", "object", key.String(), "application", rec.Application, "error", err)
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("the audit ledger did not take the record, so nothing was restarted; the controller's log says why")}
	}
	if err := s.d.Cluster.Restart(r.Context(), c.app, key.Group, key.Kind, key.Namespace, key.Name, now); err != nil {
		failed := rec
		failed.Result, failed.Message, failed.Changes = audit.Failed, "restart "+key.String()+" failed after it was recorded: "+err.Error(), nil
		if _, rerr := s.d.Recorder.Append(r.Context(), failed); rerr != nil {
			s.d.Log.Error("API resource action's failure not recorded", "object", key.String(), "error", rerr)
		}
		return fmt.Errorf("restarting %s: %w", key, err)
	}
	s.d.Log.Info("API resource action", "action", "restart", "object", key.String(), "application", rec.Application, "actor", rec.Actor)
	return writeJSONStatus(w, http.StatusAccepted, ActionResult{Action: "restart " + key.String(), Application: rec.Application, Actor: rec.Actor})
}
